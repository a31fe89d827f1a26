import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { openDatabase, type Database } from '../../src/infrastructure/persistence/database';
import { settlePartitionCount } from '../../src/infrastructure/persistence/partition-count';
import { RedisTransport } from '../../src/infrastructure/redis/redis-transport.adapter';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { FeedObserver, startRelayNode, storedRows, type RelayNode } from '../support/relay-nodes';
import { reportTiming } from '../support/report-timing';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const PARTITIONS = 2;
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }';
/** "Within a few seconds": giving up (a failed ping, or 3 s of failing publishes) plus another relay's next look, with room for a busy machine. */
const TAKEOVER_BOUND_MS = 15_000;
const RETRY_MS = 200;
/** The workload's pace, not a wait for an effect. */
const POST_PACE_MS = 50;

interface Relay {
  node: RelayNode;
  proxy: TcpProxy;
  /** Pings of its transport that found Redis silent. */
  refused: number;
}

/**
 * A relay cut off from Redis (its own TCP proxy, blackholed: the socket stays open and carries nothing)
 * while posts go on: it cannot publish, so it gives its partitions up, and the relay that can reach Redis
 * leads them all. A relay that cannot reach Redis takes no partition. A sender on the real PostgreSQL and
 * Redis, two relays (each a leadership and a relay loop, as the relay role wires them), and a subscriber
 * that hears every partition.
 */
describe('relay partitions follow Redis reachability', () => {
  let database: TestDatabase;
  let db: Database;
  let hub: RunningServer;
  let a: Relay;
  let b: Relay;
  let observer: FeedObserver;
  let observerTransport: RedisTransport;
  const prefix = `relay-part-${randomBytes(3).toString('hex')}:`;
  const chats: { chatId: string; partition: number }[] = [];
  let alice: string;
  let posted = 0;

  async function startRelay(name: string): Promise<Relay> {
    const proxy = await TcpProxy.inFrontOf(process.env.TEST_REDIS_URL!);
    const relay = { proxy, refused: 0 } as Relay;
    let transport: RedisTransport | null = null;
    relay.node = startRelayNode({
      name,
      databaseUrl: database.url,
      orm: db.orm,
      redisUrl: proxy.url(process.env.TEST_REDIS_URL!),
      prefix,
      partitions: PARTITIONS,
      leaseMs: 5000,
      retryIntervalMs: RETRY_MS,
      transportAnswers: async () => {
        const answers = await transport!.publisherHealthy();
        if (!answers) relay.refused++;
        return answers;
      },
    });
    transport = relay.node.transport;
    return relay;
  }

  const led = (relay: Relay) => relay.node.leadership.partitions;
  const epochs = () =>
    withClient(database.url, async (c) =>
      Object.fromEntries((await c.query(`select name, epoch::int as epoch from relay_leadership where name like 'partition:%'`)).rows.map((row) => [row.name, row.epoch])));
  const post = async () => {
    const chat = chats[posted % chats.length]!;
    await ok(hub.url, alice, POST, { c: chat.chatId, t: `m${posted}` });
    posted++;
  };

  /** Posts about 20 a second until `stop()`, as clients would while the relays fail over. */
  function keepPosting() {
    let running = true;
    const done = (async () => {
      while (running) {
        await post();
        await new Promise((resolve) => setTimeout(resolve, POST_PACE_MS)); // deliberate: the workload's pace
      }
    })();
    return async () => {
      running = false;
      await done;
    };
  }

  /** Every row stored is heard, each partition's in order, each naming its chat's previous row. */
  async function everyRowHeard(): Promise<void> {
    const stored = await storedRows(database.url);
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const expected = stored.filter((row) => row.partition === partition);
      await eventually(() => expect(observer.firstHeard(partition)).toEqual(expected), 20_000);
    }
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.url, dataDir: '', poolMax: 8 });
    await db.migrate();
    await settlePartitionCount(db.orm, PARTITIONS);
    hub = await startTestServer(database.url, { ROLE: 'sender', REDIS_URL: process.env.TEST_REDIS_URL!, REDIS_CHANNEL_PREFIX: prefix, RELAY_PARTITIONS: String(PARTITIONS) });
    alice = await tokenFor('alice');
    while (new Set(chats.map((chat) => chat.partition)).size < PARTITIONS && chats.length < 50) {
      const { id } = (await ok(hub.url, alice, 'mutation { createChat(input: { name: "relay", participantIds: ["bob"] }) { id } }')).createChat;
      const partition = await withClient(database.url, async (c) => (await c.query('select partition from chats where id = $1', [id])).rows[0].partition as number);
      chats.push({ chatId: id, partition });
    }
    observerTransport = new RedisTransport({ url: process.env.TEST_REDIS_URL!, prefix, onError: () => undefined });
    observer = await FeedObserver.start(observerTransport, PARTITIONS, chats);
    a = await startRelay('a');
    b = await startRelay('b');
    await eventually(() => expect([led(a).length, led(b).length]).toEqual([1, 1]), TAKEOVER_BOUND_MS);
    for (let i = 0; i < 4; i++) await post();
    await everyRowHeard();
  }, 60_000);

  afterAll(async () => {
    for (const relay of [a, b]) relay?.proxy.heal();
    await Promise.all([a, b].map((relay) => relay?.node.stop().catch(() => undefined)));
    await Promise.all([a, b].map((relay) => relay?.proxy.stop()));
    await observer?.close();
    await observerTransport?.close();
    await hub?.stop();
    await db?.close();
    await database.drop();
  });

  it('moves the partitions of a relay that cannot publish to the relay that can; nothing lost, each partition in order', async () => {
    const before = await epochs();
    const [lost] = led(a);
    const stopPosting = keepPosting();
    const cut = performance.now();
    a.proxy.blackhole();
    await eventually(() => expect(led(b)).toEqual([0, 1]), TAKEOVER_BOUND_MS);
    const ledAfterMs = performance.now() - cut;
    expect(led(a)).toEqual([]);
    expect((await epochs())[`partition:${lost}`]).toBe(before[`partition:${lost}`] + 1);
    const postedAtTakeover = posted;
    await eventually(() => expect(posted).toBeGreaterThan(postedAtTakeover + 5));
    await stopPosting();
    await everyRowHeard();

    // Healed, it answers again, joins the members and takes its share back, under a new epoch.
    a.proxy.heal();
    await eventually(() => expect([led(a).length, led(b).length]).toEqual([1, 1]), TAKEOVER_BOUND_MS);
    for (let i = 0; i < 6; i++) await post();
    await everyRowHeard();
    reportTiming(`relay-partition: the other relay led every partition ${Math.round(ledAfterMs)} ms after a relay's Redis was blackholed`);
  }, 60_000);

  it('gives no partition to a relay that cannot reach Redis, and gives them all once it can', async () => {
    a.proxy.blackhole();
    await eventually(async () => expect(await a.node.transport.publisherHealthy()).toBe(false));
    // It gives its partition up to the relay that can publish.
    await eventually(() => expect(led(b)).toEqual([0, 1]), TAKEOVER_BOUND_MS);
    expect(led(a)).toEqual([]);
    const before = await epochs();
    // The other relay goes away: its session ends and its locks are free.
    await b.node.stop();
    await post();
    // Three looks of a, each of which found Redis silent and left the partitions alone (or it led).
    const refusedAfterStop = a.refused;
    await eventually(() => expect(a.refused >= refusedAfterStop + 3 || led(a).length > 0).toBe(true), 20_000);
    expect(led(a)).toEqual([]);
    expect(await epochs()).toEqual(before);

    const healed = performance.now();
    a.proxy.heal();
    await eventually(() => expect(led(a)).toEqual([0, 1]), TAKEOVER_BOUND_MS);
    const ledAfterMs = performance.now() - healed;
    const after = await epochs();
    for (const name of Object.keys(before)) expect(after[name]).toBe(before[name] + 1);
    await post();
    await everyRowHeard();
    reportTiming(`relay-partition: the remaining relay led ${Math.round(ledAfterMs)} ms after its Redis healed`);
  }, 60_000);
});
