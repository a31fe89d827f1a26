import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { feedChannelName } from '../../src/application';
import { eventually } from '../support/eventually';
import { unreadCountsFromEvents, unreadCountsFromReadModel } from '../support/ground-truth';
import { errorCodes, graphql, ok } from '../support/graphql-http';
import { E2E_ENV, ParleyInstances } from '../support/parley-instances';
import { runParley } from '../support/parley-process';
import { freePort, TestRedisServer } from '../support/redis-server';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { tokenFor } from '../support/test-server';
import { subscribe, type Received } from '../support/ws-client';

const MESSAGE_ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq content cursor } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq cursor } }';

/**
 * DESIGN.md §3–§6 end to end: real processes (2 senders, 2 receivers, 2 relays of which one leads)
 * on the real PostgreSQL and a Redis server of the test's own, with graphql-ws clients.
 */
describe('a cluster of processes joined by Redis', () => {
  let database: TestDatabase;
  let redis: TestRedisServer;
  let env: NodeJS.ProcessEnv;
  const instances = new ParleyInstances(() => env);
  let alice: string;
  let bob: string;

  const url = (name: string) => instances.url(name);
  const client = (name: string, token: string) => instances.client(name, token);

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = new TestRedisServer(await freePort());
    await redis.start();
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      REDIS_CHANNEL_PREFIX: `e2e-${randomBytes(3).toString('hex')}:`,
      ...E2E_ENV,
    };
    await instances.migrateAndStart([
      ['sender-1', 'sender'],
      ['sender-2', 'sender'],
      ['receiver-1', 'receiver'],
      ['receiver-2', 'receiver'],
      ['relay-1', 'relay'],
      ['relay-2', 'relay'],
    ]);
    [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);
  }, 120_000);

  afterEach(async () => {
    await instances.disposeClients();
  });

  afterAll(async () => {
    await instances.stopAll();
    await redis.stop();
    await database.drop();
  });

  async function newChat(): Promise<string> {
    return (await ok(url('sender-1'), alice, 'mutation { createChat(input: { name: "cluster", participantIds: ["bob"] }) { id } }')).createChat.id;
  }

  const head = async () => (await ok(url('sender-2'), bob, '{ head }')).head as string;
  const seqs = (received: Received) => received.items.map((item: { seq: number }) => item.seq);
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  const metric = async (name: string, metricName: string) => {
    const text = await (await fetch(url(name).replace('/graphql', '/metrics'))).text();
    return Number(text.match(new RegExp(`^${metricName} (\\S+)$`, 'm'))?.[1] ?? NaN);
  };
  const relays = () => instances.relays();
  const partitionOf = (chatId: string) =>
    withClient(database.url, async (c) => (await c.query<{ partition: number }>('select partition from chats where id = $1', [chatId])).rows[0]!.partition);
  const leadershipOf = (partition: number) => instances.leadershipOf(database.url, partition);
  const leaderOf = (partition: number) => instances.leaderOf(database.url, partition);

  it('delivers a post through either sender to subscribers on both receivers, once and in seq order', async () => {
    const chatId = await newChat();
    const after = await head();
    const onFirst = subscribe(client('receiver-1', bob), MESSAGE_ADDED, { c: chatId, a: after });
    const onSecond = subscribe(client('receiver-2', alice), MESSAGE_ADDED, { c: chatId, a: after });
    for (let i = 1; i <= 6; i++) await ok(url(i % 2 ? 'sender-1' : 'sender-2'), i % 2 ? alice : bob, POST, { c: chatId, t: `m${i}` });
    for (const received of [onFirst, onSecond]) {
      await received.count(6);
      expect(seqs(received)).toEqual(upTo(6));
    }
    await ok(url('sender-1'), alice, POST, { c: chatId, t: 'last' });
    await onFirst.count(7);
    expect(seqs(onFirst)).toEqual(upTo(7));
  });

  it('brings 200 concurrent posts across both senders to every receiver, complete and ordered', async () => {
    const chatId = await newChat();
    const after = await head();
    const watchers = ['receiver-1', 'receiver-2'].map((name) => subscribe(client(name, bob), MESSAGE_ADDED, { c: chatId, a: after }));
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => graphql(url(i % 2 ? 'sender-1' : 'sender-2'), i % 3 ? alice : bob, POST, { c: chatId, t: `c${i}` })),
    );
    expect(answers.flatMap(errorCodes)).toEqual([]);
    for (const received of watchers) {
      await received.count(200, 30_000);
      expect(seqs(received)).toEqual(upTo(200));
    }
  });

  it('keeps taking mutations while Redis is down and delivers every event once it is back', async () => {
    const chatId = await newChat();
    const after = await head();
    const watchers = ['receiver-1', 'receiver-2'].map((name) => subscribe(client(name, bob), MESSAGE_ADDED, { c: chatId, a: after }));
    for (let i = 1; i <= 10; i++) await ok(url('sender-1'), alice, POST, { c: chatId, t: `before ${i}` });
    for (const received of watchers) await received.count(10);

    await redis.stop();
    for (let i = 11; i <= 40; i++) await ok(url(i % 2 ? 'sender-1' : 'sender-2'), alice, POST, { c: chatId, t: `during ${i}` });
    // the receivers really lost Redis: they say so on /readyz
    await eventually(async () => expect((await fetch(url('receiver-1').replace('/graphql', '/readyz'))).status).toBe(503));
    await redis.start();
    for (let i = 41; i <= 45; i++) await ok(url('sender-2'), alice, POST, { c: chatId, t: `after ${i}` });

    for (const received of watchers) {
      await received.count(45, 30_000);
      expect(seqs(received)).toEqual(upTo(45));
    }
  });

  it('moves the partition of a frozen relay (SIGSTOP) to the other within 10 s; resumed, it takes a share again and nothing arrives twice', async () => {
    const chatId = await newChat();
    const partition = await partitionOf(chatId);
    const after = await head();
    const watchers = ['receiver-1', 'receiver-2'].map((name) => subscribe(client(name, bob), MESSAGE_ADDED, { c: chatId, a: after }));
    const { relay: frozen, epoch } = await leaderOf(partition);
    const standby = relays().find((relay) => relay !== frozen)!;
    const post = (i: number) => ok(url(i % 2 ? 'sender-1' : 'sender-2'), alice, POST, { c: chatId, t: `f${i}` });
    for (let i = 1; i <= 5; i++) await post(i);
    for (const received of watchers) await received.count(5);

    frozen.process.child.kill('SIGSTOP');
    try {
      // Its session and locks stay: only the missing heartbeat gives it away.
      await eventually(async () => expect(await leadershipOf(partition)).toEqual({ epoch: expect.any(Number), relay: standby }), 10_000);
      expect((await leadershipOf(partition))!.epoch).toBeGreaterThan(epoch);
      for (let i = 6; i <= 10; i++) await post(i);
      for (const received of watchers) await received.count(10, 15_000);
    } finally {
      frozen.process.child.kill('SIGCONT');
    }
    // Resumed, it finds itself replaced, then takes its share of the partitions again under new epochs.
    await frozen.process.waitFor(/lost the relay lead/);
    await eventually(async () => expect(await metric(frozen.name, 'parley_relay_partitions_led')).toBeGreaterThan(0), 20_000);
    for (let i = 11; i <= 20; i++) await post(i);
    for (const received of watchers) {
      await received.count(20, 15_000);
      expect(seqs(received)).toEqual(upTo(20));
    }
  }, 90_000);

  it('loses nothing when the relay leading a chat is killed: the other takes its partitions over', async () => {
    const chatId = await newChat();
    const partition = await partitionOf(chatId);
    const after = await head();
    const watcher = subscribe(client('receiver-2', bob), MESSAGE_ADDED, { c: chatId, a: after });
    const { relay: leader, epoch } = await leaderOf(partition);
    const standby = relays().find((relay) => relay !== leader)!;
    const posting = (async () => {
      for (let i = 1; i <= 60; i++) await ok(url(i % 2 ? 'sender-1' : 'sender-2'), alice, POST, { c: chatId, t: `r${i}` });
    })();
    await watcher.count(10);
    await instances.kill(leader.name);
    await posting;
    await eventually(async () => expect(await leadershipOf(partition)).toEqual({ epoch: epoch + 1, relay: standby }), 20_000);
    await watcher.count(60, 30_000);
    expect(seqs(watcher)).toEqual(upTo(60));
  });

  it('loses nothing when a receiver is killed: clients resume with their cursor on the other one', async () => {
    const chatId = await newChat();
    const after = await head();
    const first = subscribe(client('receiver-1', bob), MESSAGE_ADDED, { c: chatId, a: after });
    const posting = (async () => {
      for (let i = 1; i <= 60; i++) await ok(url(i % 2 ? 'sender-1' : 'sender-2'), alice, POST, { c: chatId, t: `k${i}` });
    })();
    await first.count(10);
    await instances.kill('receiver-1');
    const last = first.items.at(-1)!.cursor as string;
    const resumed = subscribe(client('receiver-2', bob), MESSAGE_ADDED, { c: chatId, a: last });
    await posting;
    const seen = first.items.length;
    await resumed.count(60 - seen, 30_000);
    expect([...seqs(first), ...seqs(resumed)]).toEqual(upTo(60));
  });

  it('re-publishes a range with `parley outbox replay`, which receivers recognise as already delivered', async () => {
    const chatId = await newChat();
    const after = await head();
    const watcher = subscribe(client('receiver-2', bob), MESSAGE_ADDED, { c: chatId, a: after });
    const posted = [];
    for (let i = 1; i <= 5; i++) posted.push((await ok(url('sender-1'), alice, POST, { c: chatId, t: `p${i}` })).createMessage);
    await watcher.count(5);

    // Connected before it subscribes: a subscribe queued while connecting puts the connection in subscriber
    // mode before ioredis's ready check (INFO), which then fails, and the connection is made again meanwhile.
    const raw = new Redis(redis.url, { lazyConnect: true });
    await raw.connect();
    const heard: { cursor: string; messages: { channel: string; payload: { seq: number } }[] }[] = [];
    const partition = await withClient(database.url, async (c) => (await c.query<{ partition: number }>('select partition from chats where id = $1', [chatId])).rows[0]!.partition);
    await raw.ssubscribe(`${env.REDIS_CHANNEL_PREFIX}${feedChannelName({ kind: 'chat', partition, chatId })}`);
    raw.on('smessage', (_, text) => heard.push(JSON.parse(text)));
    try {
      // A replay publishes only what the relays have published (their saved checkpoints): wait for those.
      await eventually(async () => {
        const saved = await withClient(database.url, async (c) => (await c.query<{ n: number }>(
          `select count(*)::int as n from outbox o join relay_checkpoints k on k.name = 'partition:' || o.partition
           where o.chat_id = $1 and (o.tx_id, o.id) <= (k.tx_id, k.outbox_id)`, [chatId])).rows[0]!.n);
        expect(saved).toBe(6);
      });
      const replayed = await runParley(['outbox', 'replay', '--from', posted[1]!.cursor, '--to', posted[3]!.cursor], env);
      expect(replayed.code).toBe(0);
      expect(replayed.output).toMatch(/re-published 3 outbox rows/);
      await eventually(() => expect(heard.map((row) => row.messages.find((m) => m.channel === 'messageAdded')!.payload.seq)).toEqual([2, 3, 4]));
      expect(heard[0]!.cursor).toBe(posted[1]!.cursor);
    } finally {
      raw.disconnect();
    }
    await ok(url('sender-2'), alice, POST, { c: chatId, t: 'p6' });
    await watcher.count(6);
    expect(seqs(watcher)).toEqual(upTo(6));

    const refused = await runParley(['outbox', 'replay', '--from', 'yesterday'], env);
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/--from must be a cursor/);
  });

  it('rebuilds the read models with `parley projections rebuild` while the cluster runs, to the same state', async () => {
    const readModels = () => withClient(database.url, async (c) => ({
      counts: await unreadCountsFromReadModel(c),
      rows: (await c.query(`select (select json_agg(c order by c.id) from (select id, name, last_seq, last_message_id, version, cursor from chats) c) as chats,
                                   (select json_agg(p order by p.chat_id, p.user_id) from chat_participants p) as members,
                                   (select json_agg(m order by m.id) from messages m) as messages,
                                   (select json_agg(r order by r.message_id, r.user_id) from message_reads r) as reads`)).rows[0],
    }));
    const before = await readModels();
    const rebuilt = await runParley(['projections', 'rebuild'], env);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.output).toMatch(/rebuilt read-models from \d+ events/);
    expect(await readModels()).toEqual(before);
    const unknown = await runParley(['projections', 'rebuild', 'nonsense'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toMatch(/unknown projection nonsense; known: read-models/);
  });

  it('leaves unread counts equal to the ground truth from the event store', async () => {
    await eventually(async () => {
      const { truth, projected } = await withClient(database.url, async (c) => ({
        truth: await unreadCountsFromEvents(c),
        projected: await unreadCountsFromReadModel(c),
      }));
      expect(projected).toEqual(truth);
      expect([...truth.values()].some((count) => count > 0)).toBe(true);
    }, 30_000);
  });
});
