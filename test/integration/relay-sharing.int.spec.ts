import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { compareCursors } from '../../src/application';
import { openDatabase, type Database } from '../../src/infrastructure/persistence/database';
import { settlePartitionCount } from '../../src/infrastructure/persistence/partition-count';
import { RedisTransport } from '../../src/infrastructure/redis/redis-transport.adapter';
import { OutboxRelay } from '../../src/infrastructure/relay/outbox-relay';
import type { RelayLead } from '../../src/infrastructure/relay/relay-lead';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { FeedObserver, startRelayNode, storedRows, type RelayNode } from '../support/relay-nodes';
import { reportTiming } from '../support/report-timing';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const PARTITIONS = 4;
/** Short enough for a test, long enough that a loaded machine does not miss a heartbeat by a lease. */
const LEASE_MS = 1500;
const RETRY_MS = 100;
/** "Within seconds": a lease, the terminate wait, a few intervals, with room for a busy machine. */
const MOVE_BOUND_MS = LEASE_MS + 1000 + 20 * RETRY_MS + 4000;
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }';
/** The workload's pace, not a wait for an effect. */
const POST_PACE_MS = 20;

/**
 * DESIGN.md §3 "Ordering partitions": relays share the partitions, each under a leadership of its own.
 * With RELAY_PARTITIONS=4, two relays split them 2/2, a third takes its share, a stopped one's and a
 * frozen one's partitions move to the others within seconds, and the frozen one's late publishes are
 * refused partition by partition. Posts go through a real sender all along; a subscriber on Redis hears
 * every row, each partition's in order, each naming its chat's previous row, and ticks on every partition.
 */
describe('relays share the ordering partitions', () => {
  let database: TestDatabase;
  let db: Database;
  let sender: RunningServer;
  let observer: FeedObserver;
  let observerTransport: RedisTransport;
  const prefix = `share-${randomBytes(3).toString('hex')}:`;
  const nodes = new Map<string, RelayNode>();
  const chats: { chatId: string; partition: number }[] = [];
  let alice: string;
  let posted = 0;
  let stopPosting: (() => Promise<void>) | null = null;

  const start = (name: string) => {
    const node = startRelayNode({
      name,
      databaseUrl: database.url,
      orm: db.orm,
      redisUrl: process.env.TEST_REDIS_URL!,
      prefix,
      partitions: PARTITIONS,
      leaseMs: LEASE_MS,
      retryIntervalMs: RETRY_MS,
    });
    nodes.set(name, node);
    return node;
  };
  const live = () => [...nodes.values()].filter((node) => !node.stopped && !node.frozen);
  /** Who leads what, by the relays' own word; every partition exactly once. */
  const shares = () => Object.fromEntries(live().map((node) => [node.name, node.leadership.partitions]));
  const expectEveryPartitionLedOnce = () => {
    const led = live().flatMap((node) => node.leadership.partitions).sort();
    expect(led).toEqual(Array.from({ length: PARTITIONS }, (_, partition) => partition));
  };
  const sessionsHoldingRelayLocks = () =>
    withClient(database.url, async (c) =>
      (await c.query(`select count(distinct pid)::int as n from pg_locks where locktype = 'advisory' and granted
                      and database = (select oid from pg_database where datname = current_database())
                      and ((classid::bigint << 32) | objid::bigint) between 7071020512 and 7071020512 + 1024`)).rows[0].n as number);

  function keepPosting(): () => Promise<void> {
    let running = true;
    const done = (async () => {
      while (running) {
        const chat = chats[posted % chats.length]!;
        await ok(sender.url, alice, POST, { c: chat.chatId, t: `m${posted}` });
        posted++;
        await new Promise((resolve) => setTimeout(resolve, POST_PACE_MS)); // deliberate: the workload's pace
      }
    })();
    return async () => {
      running = false;
      await done;
    };
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.url, dataDir: '', poolMax: 8 });
    await db.migrate();
    await settlePartitionCount(db.orm, PARTITIONS);
    sender = await startTestServer(database.url, { ROLE: 'sender', REDIS_URL: process.env.TEST_REDIS_URL!, REDIS_CHANNEL_PREFIX: prefix, RELAY_PARTITIONS: String(PARTITIONS) });
    alice = await tokenFor('alice');
    // Chats until every partition has two: a chat's partition is a hash of its id.
    const count = () => Math.min(...Array.from({ length: PARTITIONS }, (_, p) => chats.filter((chat) => chat.partition === p).length));
    while (count() < 2 && chats.length < 100) {
      const { id } = (await ok(sender.url, alice, 'mutation { createChat(input: { name: "share", participantIds: ["bob"] }) { id } }')).createChat;
      const partition = await withClient(database.url, async (c) => (await c.query('select partition from chats where id = $1', [id])).rows[0].partition as number);
      chats.push({ chatId: id, partition });
    }
    expect(count()).toBeGreaterThanOrEqual(2);
    observerTransport = new RedisTransport({ url: process.env.TEST_REDIS_URL!, prefix, onError: () => undefined });
    observer = await FeedObserver.start(observerTransport, PARTITIONS, chats);
  }, 60_000);

  afterAll(async () => {
    await stopPosting?.();
    await Promise.all([...nodes.values()].map((node) => node.stop()));
    await observer?.close();
    await observerTransport?.close();
    await sender?.stop();
    await db?.close();
    await database?.drop();
  });

  it('splits four partitions 2/2 between two relays, one PostgreSQL session each', async () => {
    start('a');
    start('b');
    await eventually(() => {
      expectEveryPartitionLedOnce();
      expect(Object.values(shares()).map((led) => led.length)).toEqual([2, 2]);
    }, MOVE_BOUND_MS);
    expect(await sessionsHoldingRelayLocks()).toBe(2);
    stopPosting = keepPosting();
    await eventually(() => expect(posted).toBeGreaterThan(20));
  });

  it('gives a third relay its share', async () => {
    const joined = performance.now();
    start('c');
    await eventually(() => {
      expectEveryPartitionLedOnce();
      expect(Object.values(shares()).map((led) => led.length).sort()).toEqual([1, 1, 2]);
    }, MOVE_BOUND_MS);
    reportTiming(`relay-sharing: a third relay had its share ${Math.round(performance.now() - joined)} ms after it started`);
    expect(await sessionsHoldingRelayLocks()).toBe(3);
  });

  it("moves a stopped relay's partitions to the others within seconds", async () => {
    const a = nodes.get('a')!;
    const stopped = performance.now();
    await a.stop();
    await eventually(() => {
      expectEveryPartitionLedOnce();
      expect(Object.values(shares()).map((led) => led.length)).toEqual([2, 2]);
    }, MOVE_BOUND_MS);
    reportTiming(`relay-sharing: a stopped relay's partitions were led again ${Math.round(performance.now() - stopped)} ms after`);
  });

  it("moves a frozen relay's partitions within seconds, and refuses its late publishes partition by partition", async () => {
    const b = nodes.get('b')!;
    const c = nodes.get('c')!;
    const before = new Map(b.leadership.led());
    expect(before.size).toBe(2);
    const frozen = performance.now();
    b.frozen = true;
    await eventually(() => expect(c.leadership.partitions).toEqual([0, 1, 2, 3]), MOVE_BOUND_MS);
    reportTiming(`relay-sharing: a frozen relay's partitions were led again ${Math.round(performance.now() - frozen)} ms after it froze`);
    for (const [partition, epoch] of before) expect(c.leadership.epoch(partition)).toBeGreaterThan(epoch);

    // What b had read before it froze: its epochs, each now below the one in Redis.
    const refusals: [number, number | undefined][] = [];
    const staleLead: RelayLead = {
      led: () => before,
      epoch: (partition) => before.get(partition) ?? null,
      refused: async (partition, fencedBy) => {
        refusals.push([partition, fencedBy]);
        return null;
      },
      whenGained: () => undefined,
      whenLost: () => undefined,
      beforeRelease: () => undefined,
      stepDown: async () => undefined,
    };
    const staleCarrier = new RedisTransport({ url: process.env.TEST_REDIS_URL!, prefix, onError: () => undefined });
    try {
      const stale = new OutboxRelay(db.orm, staleCarrier, { partitions: PARTITIONS, lead: staleLead, onError: () => undefined });
      await stale.relayBatch();
      await eventually(() => expect(refusals).toHaveLength(before.size));
      expect(new Set(refusals.map(([partition]) => partition))).toEqual(new Set(before.keys()));
      for (const [partition, fencedBy] of refusals) expect(fencedBy).toBe(c.leadership.epoch(partition));
      // And a publish straight to the transport under b's old epoch, for one partition.
      const [[partition, epoch]] = [...before];
      expect(await staleCarrier.publish(partition!, [], { epoch, tick: '999999.1' })).toEqual({ published: false, fencedBy: c.leadership.epoch(partition!) });
      // Redis runs scripts one at a time: whatever the refused one had sent would be heard before c's next tick.
      await c.relay.whenCaughtUp();
      const ticks = observer.ticks.get(partition!)!.length;
      await eventually(() => expect(observer.ticks.get(partition!)!.length).toBeGreaterThan(ticks));
      expect(observer.ticks.get(partition!)).not.toContain('999999.1');
    } finally {
      await staleCarrier.close();
    }
  });

  it('gives a thawed relay its share back', async () => {
    const b = nodes.get('b')!;
    b.frozen = false;
    await eventually(() => {
      expectEveryPartitionLedOnce();
      expect(Object.values(shares()).map((led) => led.length)).toEqual([2, 2]);
    }, MOVE_BOUND_MS);
  });

  it('published every row, each partition in order, each naming its chat previous row, with ticks past it', async () => {
    await stopPosting!();
    stopPosting = null;
    for (const node of live()) await node.relay.whenCaughtUp();
    const stored = await storedRows(database.url);
    expect(posted).toBeGreaterThan(50);
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const expected = stored.filter((row) => row.partition === partition);
      expect(expected.length).toBeGreaterThan(0);
      await eventually(() => expect(observer.firstHeard(partition).map((row) => row.position)).toEqual(expected.map((row) => row.position)));
      expect(observer.firstHeard(partition)).toEqual(expected);
      // Every repeat is a row heard before, named with the same previous row.
      const byPosition = new Map(expected.map((row) => [row.position, row]));
      for (const row of observer.rows.get(partition)!) expect(row).toEqual(byPosition.get(row.position));
      const last = expected[expected.length - 1]!.position;
      await eventually(() => expect(compareCursors(observer.ticks.get(partition)!.at(-1)!, last)).toBeGreaterThanOrEqual(0));
    }
    const saved = await withClient(database.url, async (c) =>
      (await c.query(`select name, tx_id::text || '.' || outbox_id::text as position from relay_checkpoints where name like 'partition:%' order by name`)).rows);
    expect(saved.map((row: { name: string }) => row.name)).toEqual(['partition:0', 'partition:1', 'partition:2', 'partition:3']);
  });
});
