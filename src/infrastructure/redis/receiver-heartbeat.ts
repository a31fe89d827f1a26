import { hostname } from 'node:os';
import type { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import { commandConnection, connectionOptions, type RedisTarget } from './redis-connections';

/** What a receiver says of itself, for `parley status`. */
export interface ReceiverFigures {
  /** host:pid, as a relay names itself in `relay_leadership`. */
  id: string;
  /** The HTTP and WebSocket port it listens on; null before it listens. */
  port: number | null;
  /** Open WebSocket connections. */
  clients: number;
  /** Chats it follows for its clients (their channels it is subscribed to). */
  followedChats: number;
  /** Rows held for partitions being read from the outbox (bounded: MAX_BACKLOG). */
  backlog: number;
  /** The oldest event's age when its frame went out, over the last interval; 0 when nothing went out. */
  lagSeconds: number;
  startedAt: string;
  updatedAt: string;
}

export type LiveFigures = Pick<ReceiverFigures, 'port' | 'clients' | 'followedChats' | 'backlog' | 'lagSeconds'>;

export interface ReceiverHeartbeatOptions {
  target: RedisTarget;
  /** REDIS_CHANNEL_PREFIX: deployments sharing a Redis keep their receivers apart. */
  prefix: string;
  commandTimeoutMs: number;
  /** How often the figures are written (5000 ms); they expire after three intervals without a write. */
  intervalMs?: number;
  figures(): LiveFigures;
  onError(error: unknown): void;
}

export const RECEIVER_HEARTBEAT_INTERVAL_MS = 5000;

/**
 * Every receiver's key shares one hash tag, so that on a Redis Cluster they are all on one node and
 * `status` finds them with one scan of it.
 */
export function receiverKey(prefix: string, id: string): string {
  return `${prefix}{parley-receivers}:receiver:${id}`;
}

/**
 * A receiver's figures in Redis, one key per receiver with an expiry: one `SET … PX` per interval,
 * whatever the number of connections, on a connection of its own (never queued behind the publisher's
 * work). A receiver that dies stops being listed once its key expires; one that stops cleanly deletes it.
 */
export class ReceiverHeartbeat {
  private readonly connection: Redis | Cluster;
  private readonly id = `${hostname()}:${process.pid}`;
  private readonly key: string;
  private readonly startedAt = new Date().toISOString();
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;

  constructor(private readonly options: ReceiverHeartbeatOptions) {
    this.intervalMs = options.intervalMs ?? RECEIVER_HEARTBEAT_INTERVAL_MS;
    this.key = receiverKey(options.prefix, this.id);
    // A beat that cannot go now is not worth queueing: the next one carries newer figures.
    this.connection = commandConnection(options.target, { ...connectionOptions(options.commandTimeoutMs), enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    this.connection.on('error', () => undefined);
  }

  start(): void {
    this.connection.once('ready', () => this.beat());
    this.timer = setInterval(() => this.beat(), this.intervalMs);
    this.timer.unref();
  }

  private beat(): void {
    // One write in flight at most: a Redis that is slow to answer gets no pile of them.
    if (this.writing || this.timer === null) return;
    const figures: ReceiverFigures = { id: this.id, ...this.options.figures(), startedAt: this.startedAt, updatedAt: new Date().toISOString() };
    this.writing = this.connection
      .set(this.key, JSON.stringify(figures), 'PX', this.intervalMs * 3)
      .then(() => undefined, (error: unknown) => this.options.onError(error))
      .finally(() => (this.writing = null));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.writing;
    await this.connection.del(this.key).catch(() => undefined);
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}

/**
 * The receivers whose keys have not expired, read by `parley status`: a scan of the keys' node (every
 * master of a cluster, to find it), then one read of each key found.
 */
export async function readReceiverFigures(target: RedisTarget, prefix: string, commandTimeoutMs: number): Promise<ReceiverFigures[]> {
  const connection = commandConnection(target, { ...connectionOptions(commandTimeoutMs), maxRetriesPerRequest: 1, retryStrategy: () => null });
  connection.on('error', () => undefined);
  try {
    const nodes = 'url' in target ? [connection as Redis] : await mastersOf(connection as Cluster, commandTimeoutMs);
    const pattern = `${globEscaped(receiverKey(prefix, ''))}*`;
    const keys = new Set<string>();
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        for (const key of found) keys.add(key);
      } while (cursor !== '0');
    }
    const figures: ReceiverFigures[] = [];
    for (const key of [...keys].sort()) {
      // A key that expired between the scan and the read is a receiver gone meanwhile.
      const text = await connection.get(key);
      if (text) figures.push(JSON.parse(text) as ReceiverFigures);
    }
    return figures;
  } finally {
    connection.disconnect();
  }
}

/** A cluster's masters once its slots are known; a cluster that does not answer fails within the deadline. */
async function mastersOf(cluster: Cluster, deadlineMs: number): Promise<Redis[]> {
  if (cluster.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the Redis Cluster did not answer within ${deadlineMs} ms`)), Math.max(deadlineMs, 2000));
      cluster.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return cluster.nodes('master');
}

/** Redis glob patterns treat these as special; a prefix may hold them. */
function globEscaped(text: string): string {
  return text.replace(/[*?[\]\\]/g, (character) => `\\${character}`);
}
