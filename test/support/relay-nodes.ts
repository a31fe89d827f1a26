import type { MikroORM } from '@mikro-orm/postgresql';
import type { FeedSubscriber, RelayedRecord } from '../../src/application';
import { RedisTransport } from '../../src/infrastructure/redis/redis-transport.adapter';
import { OutboxRelay } from '../../src/infrastructure/relay/outbox-relay';
import { RelayLeadership } from '../../src/infrastructure/relay/relay-leadership';
import { withClient } from './test-database';

/**
 * A relay "process" inside the test: its own leadership session, relay loop and Redis transport, as
 * relay-role.ts wires them, with a short lease and interval, and the `frozen` hook that stops its
 * leadership timer as SIGSTOP would stop the process's.
 */
export interface RelayNode {
  name: string;
  leadership: RelayLeadership;
  relay: OutboxRelay;
  transport: RedisTransport;
  frozen: boolean;
  stopped: boolean;
  stop(): Promise<void>;
}

export interface RelayNodeOptions {
  name: string;
  databaseUrl: string;
  orm: MikroORM;
  redisUrl: string;
  prefix: string;
  partitions: number;
  leaseMs: number;
  retryIntervalMs: number;
  transportAnswers?: () => Promise<boolean>;
  onError?: (error: unknown) => void;
}

export function startRelayNode(options: RelayNodeOptions): RelayNode {
  const onError = options.onError ?? (() => undefined);
  const transport = new RedisTransport({ url: options.redisUrl, prefix: options.prefix, onError });
  const node = { name: options.name, transport, frozen: false, stopped: false } as RelayNode;
  node.leadership = new RelayLeadership({
    databaseUrl: options.databaseUrl,
    partitions: options.partitions,
    leaseMs: options.leaseMs,
    retryIntervalMs: options.retryIntervalMs,
    holder: options.name,
    frozen: () => node.frozen,
    transportAnswers: options.transportAnswers,
    onError,
  });
  node.relay = new OutboxRelay(options.orm, transport, {
    partitions: options.partitions,
    pollIntervalMs: options.retryIntervalMs,
    lead: node.leadership,
    onError,
  });
  node.relay.start();
  node.leadership.start();
  node.stop = async () => {
    if (node.stopped) return;
    node.stopped = true;
    node.frozen = false;
    await node.relay.stop();
    await node.leadership.stop();
    await transport.close();
  };
  return node;
}

export interface HeardRow {
  position: string;
  previous: string;
  chatId: string;
  partition: number;
}

/**
 * A receiver's view of what the relays publish: every partition's membership and tick channels and the
 * chat channels it is told of, each partition's messages in the order Redis delivered them.
 */
export class FeedObserver {
  readonly rows = new Map<number, HeardRow[]>();
  readonly ticks = new Map<number, string[]>();
  private constructor(private readonly subscriber: FeedSubscriber, partitions: number) {
    for (let partition = 0; partition < partitions; partition++) {
      this.rows.set(partition, []);
      this.ticks.set(partition, []);
    }
  }

  static async start(transport: RedisTransport, partitions: number, chats: { chatId: string; partition: number }[]): Promise<FeedObserver> {
    let observer: FeedObserver | null = null;
    const subscriber = transport.subscriber({
      row: (record: RelayedRecord) => observer!.heard(record),
      tick: (partition, head) => observer!.ticks.get(partition)?.push(head),
      resubscribing: () => undefined,
      resubscribed: () => undefined,
      onError: () => undefined,
    });
    observer = new FeedObserver(subscriber, partitions);
    const all = Array.from({ length: partitions }, (_, partition) => partition);
    await subscriber.subscribe([
      ...all.map((partition) => ({ kind: 'members' as const, partition })),
      ...all.map((partition) => ({ kind: 'tick' as const, partition })),
      ...chats.map(({ chatId, partition }) => ({ kind: 'chat' as const, partition, chatId })),
    ]);
    return observer;
  }

  private heard(record: RelayedRecord): void {
    this.rows.get(record.partition)?.push({
      position: record.position,
      previous: record.previous,
      chatId: record.chatId,
      partition: record.partition,
    });
  }

  /**
   * Each partition's rows in the order first heard: a membership row is heard on its chat's channel and
   * on the membership channel, and a new leader publishes again from a checkpoint; each counts once.
   */
  firstHeard(partition: number): HeardRow[] {
    const seen = new Set<string>();
    return (this.rows.get(partition) ?? []).filter((row) => !seen.has(row.position) && seen.add(row.position));
  }

  close(): Promise<void> {
    return this.subscriber.close();
  }
}

export interface StoredRow {
  position: string;
  previous: string;
  chatId: string;
  partition: number;
}

/** Every outbox row, in relay order, with its chat's previous row as the relay must name it. */
export async function storedRows(databaseUrl: string): Promise<StoredRow[]> {
  return withClient(databaseUrl, async (client) =>
    (await client.query<StoredRow>(`
      select tx_id::text || '.' || id::text as position,
             coalesce(lag(tx_id::text || '.' || id::text) over (partition by chat_id order by tx_id, id), '0.0') as previous,
             chat_id::text as "chatId", partition
      from outbox order by tx_id, id`)).rows);
}
