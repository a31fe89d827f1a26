import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { epochKey, feedChannelName, type FeedChannel, type FeedHandlers, type FeedSubscriber, type RelayedRecord } from '../../src/application';
import { RedisTransport } from '../../src/infrastructure/redis/redis-transport.adapter';
import { eventually } from '../support/eventually';
import { TestRedisCluster, type ClusterNodeInfo } from '../support/redis-cluster';

const OCCURRED_AT = '2026-12-06T00:00:00.000Z';
const PARTITIONS = 16;
/** Failover, promotion and a slots refresh take seconds on a real cluster. */
const CLUSTER_CHANGE_MS = 20_000;

function row(partition: number, chatId: string, position: string, previous: string): RelayedRecord {
  const meta = { eventId: `e-${position}`, cursor: position, chatId, occurredAt: OCCURRED_AT };
  return { position, previous, chatId, partition, membership: false, messages: [{ channel: 'messageAdded', payload: { chatId }, meta }] };
}

/** What one feed subscriber heard, in order, with the partitions each resubscribe named. */
class Heard {
  readonly log: string[] = [];
  readonly errors: string[] = [];
  readonly handlers: FeedHandlers = {
    row: (record) => this.log.push(`row ${record.chatId} ${record.position}`),
    tick: (partition, head) => this.log.push(`tick ${partition} ${head}`),
    resubscribing: (partitions) => this.log.push(`resubscribing ${partitions?.join(',') ?? 'all'}`),
    resubscribed: (partitions) => this.log.push(`resubscribed ${partitions?.join(',') ?? 'all'}`),
    onError: (error) => this.errors.push(String((error as Error).message ?? error)),
  };

  has(entry: string): boolean {
    return this.log.includes(entry);
  }

  /** Whether the partition was named by a resubscribe confirmed after `from` (an index into the log). */
  resubscribedSince(from: number, partition: number): boolean {
    return this.log.slice(from).some((line) => line.startsWith('resubscribed ') && line.slice(13).split(',').includes(String(partition)));
  }
}

const chat = (partition: number, chatId: string): FeedChannel => ({ kind: 'chat', partition, chatId });
const tick = (partition: number): FeedChannel => ({ kind: 'tick', partition });

describe('Redis transport on a real Redis Cluster (3 masters, 3 replicas)', () => {
  const prefix = `itc-${randomBytes(3).toString('hex')}:`;
  let cluster: TestRedisCluster;
  let transport: RedisTransport;
  const moved: string[] = [];
  const subscribers: FeedSubscriber[] = [];

  beforeAll(async () => {
    cluster = await TestRedisCluster.start();
    transport = new RedisTransport({ cluster: cluster.seeds, prefix, probeIntervalMs: 200, onError: () => undefined, onMoved: (count, reason) => moved.push(`${count} ${reason}`) });
    // The cluster client's first slots map may take a retry on a busy machine: publishes wait for it, as a relay's would.
    await eventually(async () => expect(await transport.publisherHealthy()).toBe(true), CLUSTER_CHANGE_MS);
  });

  afterAll(async () => {
    await Promise.all(subscribers.map((made) => made.close()));
    await transport?.close();
    await cluster?.stop();
  });

  function subscriber(heard: Heard): FeedSubscriber {
    const made = transport.subscriber(heard.handlers);
    subscribers.push(made);
    return made;
  }

  /** The master that owns a partition's hash tag, asked of the cluster itself. */
  async function ownerOfPartition(partition: number): Promise<ClusterNodeInfo> {
    return cluster.ownerOf(await cluster.keySlot(`${prefix}${epochKey(partition)}`));
  }

  /** Sharded subscribers of a channel on one node (PUBSUB SHARDNUMSUB counts the node asked only). */
  async function shardSubscribersOn(node: ClusterNodeInfo, channel: FeedChannel): Promise<number> {
    const connection = new Redis({ host: node.host, port: node.port });
    try {
      const answer = (await connection.call('PUBSUB', 'SHARDNUMSUB', `${prefix}${feedChannelName(channel)}`)) as [string, number];
      return Number(answer[1]);
    } finally {
      connection.disconnect();
    }
  }

  /** Publishes until the cluster takes it (a failover in progress refuses for a few seconds). */
  async function publishEventually(partition: number, records: RelayedRecord[], head: string): Promise<void> {
    await eventually(async () => expect(await transport.publish(partition, records, { tick: head })).toEqual({ published: true }), CLUSTER_CHANGE_MS);
  }

  it('publishes every partition on the master that owns its tag, fenced per partition, and a subscriber hears each in order', async () => {
    // Given a subscriber on one chat and the tick of each of the 16 partitions
    const heard = new Heard();
    const feed = subscriber(heard);
    for (let partition = 0; partition < PARTITIONS; partition++) await feed.subscribe([chat(partition, `c-${partition}`), tick(partition)]);

    // When each partition's leader (epoch 5) publishes a row and a tick, and a stale leader (epoch 3) tries too
    for (let partition = 0; partition < PARTITIONS; partition++) {
      expect(await transport.publish(partition, [row(partition, `c-${partition}`, `10.${partition + 1}`, '0.0')], { epoch: 5, tick: `10.${partition + 1}` })).toEqual({ published: true });
    }
    const stale = await transport.publish(4, [row(4, 'c-4', '9.1', '0.0')], { epoch: 3 });

    // Then the stale one is refused, and every row is heard before its partition's tick
    expect(stale).toEqual({ published: false, fencedBy: 5 });
    await eventually(() => {
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const rowAt = heard.log.indexOf(`row c-${partition} 10.${partition + 1}`);
        expect(rowAt).toBeGreaterThanOrEqual(0);
        expect(heard.log.indexOf(`tick ${partition} 10.${partition + 1}`)).toBeGreaterThan(rowAt);
      }
    });
    expect(heard.log).not.toContain('row c-4 9.1');

    // And each partition's channels are subscribed on the master that owns its slot, and nowhere else
    const masters = await cluster.masters();
    for (const partition of [0, 5, 11]) {
      const owner = await ownerOfPartition(partition);
      for (const master of masters) {
        expect(await shardSubscribersOn(master, chat(partition, `c-${partition}`))).toBe(master.id === owner.id ? 1 : 0);
      }
    }
    // And the 16 partitions sit on all three masters
    const owners = new Set<string>();
    for (let partition = 0; partition < PARTITIONS; partition++) owners.add((await ownerOfPartition(partition)).id);
    expect(owners.size).toBe(3);
  });

  it('keeps a channel asked for again while an unsubscribe of many partitions is still being sent', async () => {
    // Given a subscriber on the tick of every partition
    const heard = new Heard();
    const feed = subscriber(heard);
    const ticks = Array.from({ length: PARTITIONS }, (_, partition) => tick(partition));
    const owner = await ownerOfPartition(15);
    const others = await shardSubscribersOn(owner, tick(15));
    await feed.subscribe(ticks);

    // When it lets them all go, and asks for partition 15's again before that is through
    const leaving = feed.unsubscribe(ticks);
    const back = feed.subscribe([tick(15)]);
    await Promise.all([leaving, back]);

    // Then partition 15's tick stays subscribed on its master, and is heard
    expect(feed.channelCount).toBe(1);
    expect(await shardSubscribersOn(owner, tick(15))).toBe(others + 1);
    await publishEventually(15, [], '50.1');
    await eventually(() => expect(heard.has('tick 15 50.1')).toBe(true));
  });

  it('subscribes a partition anew where its slot went when the slot is migrated in place, and treats it as possibly missed', async () => {
    // Given a subscriber on partition 3's chat and tick
    const heard = new Heard();
    const feed = subscriber(heard);
    await feed.subscribe([chat(3, 'm-3'), tick(3)]);
    const before = await ownerOfPartition(3);
    const target = (await cluster.masters()).find((master) => master.id !== before.id)!;
    const movedBefore = moved.length;
    const mark = heard.log.length;

    // When the partition's slot is migrated to another master while the subscription is live
    await cluster.migrateSlot(await cluster.keySlot(`${prefix}${epochKey(3)}`), target);

    // Then Redis's sunsubscribe is seen (and counted as such): the partition is resubscribed on the new owner
    await eventually(() => expect(heard.resubscribedSince(mark, 3)).toBe(true), CLUSTER_CHANGE_MS);
    expect(heard.log.slice(mark).find((line) => line.startsWith('resubscribing'))).toBeDefined();
    expect(moved.slice(movedBefore)).toContain('1 sunsubscribe');
    expect(await shardSubscribersOn(target, chat(3, 'm-3'))).toBe(1);

    // And what is published after the move is heard
    await publishEventually(3, [row(3, 'm-3', '20.1', '0.0')], '20.1');
    await eventually(() => expect(heard.has('row m-3 20.1')).toBe(true));
  });

  it('subscribes a partition anew on the promoted replica after a manual failover demotes its master', async () => {
    // Given a subscriber on partition 9's chat and tick
    const heard = new Heard();
    const feed = subscriber(heard);
    await feed.subscribe([chat(9, 'f-9'), tick(9)]);
    const before = await ownerOfPartition(9);
    const mark = heard.log.length;

    // When a replica takes over from that master (CLUSTER FAILOVER)
    const { newMaster } = await cluster.failover(before);

    // Then the partition is resubscribed on the new master, and what is published after is heard
    await eventually(() => expect(heard.resubscribedSince(mark, 9)).toBe(true), CLUSTER_CHANGE_MS);
    await eventually(async () => expect(await shardSubscribersOn(newMaster, chat(9, 'f-9'))).toBe(1), CLUSTER_CHANGE_MS);
    await publishEventually(9, [row(9, 'f-9', '30.1', '0.0')], '30.1');
    await eventually(() => expect(heard.has('row f-9 30.1')).toBe(true));
  });

  it('subscribes a partition anew on the promoted replica after its master is killed, which still holds the partition\'s epoch', async () => {
    // Given a subscriber on partition 13's chat and tick
    const heard = new Heard();
    const feed = subscriber(heard);
    await feed.subscribe([chat(13, 'k-13'), tick(13)]);
    const before = await ownerOfPartition(13);
    const mark = heard.log.length;
    // And a new leader of partition 13 (epoch 7) that claimed it just before
    expect(await transport.publish(13, [], { epoch: 7 })).toEqual({ published: true });

    // When that master is killed (SIGKILL) and its replica is promoted
    const { newMaster } = await cluster.killMaster(before);

    // Then the promoted replica still refuses the former leader (the claim waited for a replica)
    await eventually(async () => expect(await transport.publish(13, [row(13, 'k-13', '39.1', '0.0')], { epoch: 6 })).toEqual({ published: false, fencedBy: 7 }), CLUSTER_CHANGE_MS);

    // And the partition is resubscribed on the promoted replica, and what is published after is heard
    await eventually(() => expect(heard.resubscribedSince(mark, 13)).toBe(true), CLUSTER_CHANGE_MS);
    await eventually(async () => expect(await shardSubscribersOn(newMaster, chat(13, 'k-13'))).toBe(1), CLUSTER_CHANGE_MS);
    await publishEventually(13, [row(13, 'k-13', '40.1', '0.0')], '40.1');
    await eventually(() => expect(heard.has('row k-13 40.1')).toBe(true));
  });
});
