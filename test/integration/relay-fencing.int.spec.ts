import { randomBytes, randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { epochKey, type RelayedRecord } from '../../src/application';
import { TAKE_APPEND_LOCK } from '../../src/infrastructure/persistence/commit-order';
import { openDatabase, type Database } from '../../src/infrastructure/persistence/database';
import { settlePartitionCount } from '../../src/infrastructure/persistence/partition-count';
import { RedisTransport } from '../../src/infrastructure/redis/redis-transport.adapter';
import { OutboxRelay } from '../../src/infrastructure/relay/outbox-relay';
import type { RelayLead } from '../../src/infrastructure/relay/relay-lead';
import { eventually } from '../support/eventually';
import { freePort, TestRedisServer } from '../support/redis-server';
import { FeedObserver, startRelayNode, type RelayNode } from '../support/relay-nodes';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';

const PARTITIONS = 2;
/** Short enough for a test, long enough that a loaded machine does not miss a heartbeat by a lease. */
const LEASE_MS = 1500;
const RETRY_MS = 100;
/** Another relay sees the leader's row within a retry, waits a lease, ends the session, takes the lock. */
const TAKEOVER_BOUND_MS = LEASE_MS + 10 * RETRY_MS + 2000;

/** A relay that read its epoch just before its process froze: it still believes it leads a partition under `epoch`. */
interface StaleRelay {
  relay: OutboxRelay;
  transport: RedisTransport;
  refusals: [number, number | undefined][];
  published: string[];
}

/**
 * A frozen relay keeps its PostgreSQL session and its advisory locks. Relays with their leaderships in
 * this process, two partitions, on the real PostgreSQL and a Redis of the test's own: a frozen one (its
 * timer stops, as a stopped process's would) is replaced within the lease, partition by partition, and
 * what it still sends under its old epoch is refused by Redis and by PostgreSQL for that partition,
 * while the other partition goes on. One story, step by step.
 */
describe('relay fencing per partition: a frozen leader is replaced and cannot publish after', () => {
  let database: TestDatabase;
  let db: Database;
  let redis: TestRedisServer;
  let observer: FeedObserver;
  let observerTransport: RedisTransport;
  const prefix = `fence-${randomBytes(3).toString('hex')}:`;
  const nodes = new Map<string, RelayNode>();
  const transports: RedisTransport[] = [];
  const stale: Record<string, StaleRelay> = {};
  /** One chat per partition; rows are written straight to the outbox, under the append lock. */
  const chats = [randomUUID(), randomUUID()];
  /** The partition a relay joining second takes over, and the one that stays: set by the first test. */
  let kept = 0;

  const startNode = (name: string) => {
    const node = startRelayNode({
      name,
      databaseUrl: database.url,
      orm: db.orm,
      redisUrl: redis.url,
      prefix,
      partitions: PARTITIONS,
      leaseMs: LEASE_MS,
      retryIntervalMs: RETRY_MS,
    });
    nodes.set(name, node);
    return node;
  };

  function staleRelay(partition: number, epoch: number, options: { checkpointEveryMs?: number } = {}): StaleRelay {
    const refusals: [number, number | undefined][] = [];
    const published: string[] = [];
    const led = new Map([[partition, epoch]]);
    const lead: RelayLead = {
      led: () => led,
      epoch: (p) => led.get(p) ?? null,
      refused: async (p, fencedBy) => {
        refusals.push([p, fencedBy]);
        return null;
      },
      whenGained: () => undefined,
      whenLost: () => undefined,
      beforeRelease: () => undefined,
      stepDown: async () => undefined,
    };
    const carrier = new RedisTransport({ url: redis.url, prefix, onError: () => undefined });
    transports.push(carrier);
    const relay = new OutboxRelay(db.orm, carrier, {
      partitions: PARTITIONS,
      lead,
      onError: () => undefined,
      onPublished: (records: RelayedRecord[]) => published.push(...records.map((record) => record.position)),
      ...options,
    });
    return { relay, transport: carrier, refusals, published };
  }

  const leadershipRow = (partition: number) =>
    withClient(database.url, async (c) =>
      (await c.query('select epoch::int as epoch, holder, beat::int as beat from relay_leadership where name = $1', [`partition:${partition}`])).rows[0]);
  const savedCheckpoint = (partition: number) =>
    withClient(database.url, async (c) =>
      (await c.query(`select tx_id::text || '.' || outbox_id::text as position from relay_checkpoints where name = $1`, [`partition:${partition}`])).rows[0]?.position);
  const positionOf = (content: string) =>
    withClient(database.url, async (c) =>
      (await c.query(`select tx_id::text || '.' || id::text as position from outbox where payload -> 0 -> 'payload' ->> 'content' = $1`, [content])).rows[0]!.position as string);
  const live = () => [...nodes.values()].filter((node) => !node.stopped && !node.frozen);
  const leadersOf = (partition: number) => live().filter((node) => node.leadership.partitions.includes(partition));
  const heard = (partition: number) => observer.rows.get(partition)!.map((row) => row.position);
  const hears = async (content: string, partition = kept) => {
    const position = await positionOf(content);
    await eventually(() => expect(heard(partition)).toContain(position));
    return position;
  };

  /** The relay's next batch publishes the row (it may first have to find it committed). */
  const publishes = async (relay: StaleRelay, content: string) => {
    const position = await positionOf(content);
    await eventually(async () => {
      await relay.relay.relayBatch();
      expect(relay.published).toContain(position);
    });
  };

  /** Commits one outbox row of the partition's chat, carrying a messageAdded with this content. */
  async function post(content: string, partition = kept): Promise<void> {
    const chatId = chats[partition]!;
    const message = { channel: 'messageAdded', payload: { content }, meta: { eventId: randomUUID(), cursor: '0.0', chatId, occurredAt: new Date().toISOString() } };
    await withClient(database.url, async (c) => {
      await c.query(`begin; ${TAKE_APPEND_LOCK}`);
      await c.query('insert into outbox (payload, chat_id, partition) values ($1::jsonb, $2, $3)', [JSON.stringify([message]), chatId, partition]);
      await c.query('commit');
    });
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.url, dataDir: '', poolMax: 8 });
    await db.migrate();
    await settlePartitionCount(db.orm, PARTITIONS);
    redis = new TestRedisServer(await freePort());
    await redis.start();
    observerTransport = new RedisTransport({ url: redis.url, prefix, onError: () => undefined });
    observer = await FeedObserver.start(observerTransport, PARTITIONS, chats.map((chatId, partition) => ({ chatId, partition })));
  });

  afterAll(async () => {
    await Promise.all([...nodes.values()].map((node) => node.stop()));
    await Promise.all(transports.map((t) => t.close()));
    await observer?.close();
    await observerTransport?.close();
    await redis.stop();
    await db.close();
    await database.drop();
  });

  it('hands one partition to a relay that joins, under the next epoch; a relay that heartbeats keeps the other', async () => {
    const a = startNode('a');
    await eventually(() => expect(a.leadership.partitions).toEqual([0, 1]));
    expect([...a.leadership.led()]).toEqual([[0, 1], [1, 1]]);
    const b = startNode('b');
    await eventually(() => {
      expect(a.leadership.partitions).toHaveLength(1);
      expect(b.leadership.partitions).toHaveLength(1);
    }, TAKEOVER_BOUND_MS);
    kept = a.leadership.partitions[0]!;
    const moved = 1 - kept;
    expect(b.leadership.epoch(moved)).toBe(2);
    expect(a.leadership.epoch(kept)).toBe(1);
    const { beat } = await leadershipRow(kept);
    // Two leases of heartbeats, each of which b had the chance to find stale.
    await eventually(async () => expect((await leadershipRow(kept)).beat).toBeGreaterThanOrEqual(beat + (2 * LEASE_MS) / RETRY_MS), 4 * LEASE_MS + 5000);
    expect(leadersOf(kept).map((node) => node.name)).toEqual(['a']);
    expect(await leadershipRow(kept)).toMatchObject({ epoch: 1, holder: 'a' });

    await post('one');
    await hears('one');
    // Two relays that read epoch 1 of a's partition before a's process froze, and published under it.
    stale.batch = staleRelay(kept, 1);
    stale.save = staleRelay(kept, 1, { checkpointEveryMs: 60_000 });
    await stale.batch.relay.relayBatch();
    await stale.save.relay.relayBatch();
    await post('two');
    await publishes(stale.save, 'two');
    await post('three');
    // Its second batch: by the checkpoint interval not saved, this progress is in memory only.
    await publishes(stale.save, 'three');
    await hears('three');
  });

  it('replaces a frozen leader within the lease, with the next epoch of its partition, and delivers from the new one', async () => {
    const a = nodes.get('a')!;
    const b = nodes.get('b')!;
    a.frozen = true;
    await eventually(() => expect(b.leadership.partitions).toEqual([0, 1]), TAKEOVER_BOUND_MS);
    expect(b.leadership.epoch(kept)).toBe(2);
    expect(await leadershipRow(kept)).toMatchObject({ epoch: 2, holder: 'b' });
    // Its session was terminated, which even a frozen leader learns as soon as it runs.
    await eventually(() => expect(a.leadership.isLeader).toBe(false));
    expect(a.leadership.epoch(kept)).toBeNull();

    await post('four');
    await hears('four');
    const fencing = new Redis(redis.url);
    expect(await fencing.get(`${prefix}${epochKey(kept)}`)).toBe('2');
    fencing.disconnect();
  });

  it("refuses the old leader's checkpoint save for its partition: the new leader's checkpoint stays", async () => {
    // The new leader saves when idle, after 'four'; the old one holds 'three', unsaved.
    const four = await positionOf('four');
    await eventually(async () => expect(await savedCheckpoint(kept)).toBe(four));
    await stale.save.relay.stop();
    expect(stale.save.refusals).toEqual([[kept, undefined]]);
    expect(await savedCheckpoint(kept)).toBe(four);
  });

  it("refuses the old leader's next batch in Redis, whole: nothing of it reaches a subscriber, and the other partition goes on", async () => {
    await post('five');
    await hears('five');
    const heardBefore = heard(kept);
    const publishedBefore = [...stale.batch.published];
    // Its checkpoint is before 'two': 'two' to 'five' are what it would send now.
    await stale.batch.relay.relayBatch();
    expect(stale.batch.refusals).toEqual([[kept, 2]]);
    expect(stale.batch.published).toEqual(publishedBefore);
    // And a row sent straight to the transport under epoch 1.
    const forged: RelayedRecord = {
      position: '9999.1',
      previous: '0.0',
      chatId: chats[kept]!,
      partition: kept,
      membership: false,
      messages: [{ channel: 'messageAdded', payload: { content: 'forged' }, meta: { eventId: randomUUID(), cursor: '9999.1', chatId: chats[kept]!, occurredAt: new Date().toISOString() } }],
    } as RelayedRecord;
    expect(await stale.batch.transport.publish(kept, [forged], { epoch: 1 })).toEqual({ published: false, fencedBy: 2 });
    // The other partition's fence is its own.
    await post('other', 1 - kept);
    await hears('other', 1 - kept);
    // Redis runs scripts one at a time: whatever the refused ones had sent would be heard before this.
    await post('six');
    const six = await hears('six');
    expect(heard(kept)).toEqual([...heardBefore, six]);
  });

  it('lets exactly one of two racing relays replace the next frozen leader of each partition, with the epoch after', async () => {
    const a = nodes.get('a')!;
    const b = nodes.get('b')!;
    a.frozen = false;
    const c = startNode('c');
    await eventually(() => expect(live().flatMap((node) => node.leadership.partitions).sort()).toEqual([0, 1]), TAKEOVER_BOUND_MS);
    // Freeze a relay that leads something (with three relays and two partitions one leads nothing).
    const victim = live().find((node) => node.leadership.partitions.length > 0)!;
    const before = new Map(victim.leadership.led());
    victim.frozen = true;
    await eventually(() => {
      for (const partition of [0, 1]) expect(leadersOf(partition)).toHaveLength(1);
    }, TAKEOVER_BOUND_MS);
    for (const [partition, epoch] of before) {
      const [winner] = leadersOf(partition);
      expect([a, b, c].filter((node) => node !== victim)).toContain(winner);
      expect(winner!.leadership.epoch(partition)).toBe(epoch + 1);
      expect(await leadershipRow(partition)).toMatchObject({ epoch: epoch + 1, holder: winner!.name });
    }
    await eventually(() => expect(victim.leadership.isLeader).toBe(false));
    victim.frozen = false;

    // Thawed, it finds its session ended, joins again and may take a partition back, under a new epoch.
    await eventually(() => {
      for (const partition of [0, 1]) expect(leadersOf(partition)).toHaveLength(1);
    }, TAKEOVER_BOUND_MS);
    await post('seven');
    await hears('seven');
  });

  it('leads on above a leftover fencing epoch in Redis (a database recreated under a Redis that kept its key)', async () => {
    await eventually(() => expect(leadersOf(kept)).toHaveLength(1), TAKEOVER_BOUND_MS);
    const [leader] = leadersOf(kept);
    const fencing = new Redis(redis.url);
    await fencing.set(`${prefix}${epochKey(kept)}`, '1000');
    await post('eight');
    await hears('eight');
    expect(leadersOf(kept)).toEqual([leader]);
    expect(leader!.leadership.epoch(kept)).toBe(1001);
    expect(await leadershipRow(kept)).toMatchObject({ epoch: 1001, holder: leader!.name });
    expect(await fencing.get(`${prefix}${epochKey(kept)}`)).toBe('1001');
    fencing.disconnect();
  });
});
