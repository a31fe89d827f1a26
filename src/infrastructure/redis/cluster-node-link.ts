import Redis, { type RedisOptions } from 'ioredis';
import { sendChunked, whenReady } from './redis-connections';

export interface NodeLinkEvents {
  /** A connection to the node is ready (the first, or a new one): every partition here must be subscribed again. */
  ready(link: NodeLink): void;
  /** Redis said a channel here moved (an unrequested `sunsubscribe`, or `MOVED` to a subscribe). */
  moved(link: NodeLink): void;
  message(link: NodeLink, channel: string, text: string): void;
  error(error: unknown): void;
}

/**
 * One receiver's subscriber connection to one master of a Redis Cluster, carrying the partitions whose
 * slots that master owns. It never resubscribes by itself (ioredis's `autoResubscribe` is off): on
 * every new connection it tells its owner, which subscribes the partitions again and treats them as
 * possibly missed.
 */
export class NodeLink {
  readonly connection: Redis;
  /** The partitions whose channels this link carries. */
  readonly partitions = new Set<number>();
  private closed = false;

  constructor(readonly node: string, options: RedisOptions, private readonly commandTimeoutMs: number, events: NodeLinkEvents) {
    const [host, port] = splitNode(node);
    this.connection = new Redis({ ...options, host, port, autoResubscribe: false, maxRetriesPerRequest: null, lazyConnect: false });
    this.connection.on('error', (error) => events.error(error));
    this.connection.on('ready', () => events.ready(this));
    // ioredis 6 emits this for a push it did not ask for, instead of taking it as the next command's reply.
    this.connection.on('moved', () => events.moved(this));
    this.connection.on('smessage', (channel: string, text: string) => events.message(this, channel, text));
  }

  get ready(): boolean {
    return this.connection.status === 'ready';
  }

  /** Sends one command per chunk; the names must share a slot (one partition's channels do). */
  send(command: 'ssubscribe' | 'sunsubscribe', names: string[]): Promise<void> {
    return sendChunked(this.connection, command, names);
  }

  /** Waits for a connection being made, within a few command deadlines. */
  whenReady(): Promise<void> {
    return whenReady(this.connection, this.commandTimeoutMs * 3, `Redis Cluster subscriber for ${this.node}`);
  }

  /** Drops the connection and makes a new one, which subscribes everything here again. */
  reconnect(): void {
    if (!this.closed && this.ready) this.connection.disconnect(true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}

/** `host:port` as ioredis names cluster nodes (an IPv6 host keeps its colons). */
export function splitNode(node: string): [string, number] {
  const colon = node.lastIndexOf(':');
  return [node.slice(0, colon), Number(node.slice(colon + 1))];
}
