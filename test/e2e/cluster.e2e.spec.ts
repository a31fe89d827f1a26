import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import Redis from 'ioredis';
import { feedChannelName } from '../../src/application';
import { eventually } from '../support/eventually';
import { unreadCountsFromEvents, unreadCountsFromReadModel } from '../support/ground-truth';
import { errorCodes, graphql, ok } from '../support/graphql-http';
import { ParleyProcess, runParley } from '../support/parley-process';
import { freePort, TestRedisServer } from '../support/redis-server';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { TEST_JWT_SECRET, tokenFor } from '../support/test-server';
import { connectClient, subscribe, type Received } from '../support/ws-client';

const STARTED = /Parley GraphQL: (http:\/\/\S+) \(roles: /;
const MESSAGE_ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq content cursor } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq cursor } }';

interface Instance {
  name: string;
  process: ParleyProcess;
  url: string;
}

/**
 * DESIGN.md §3–§6 end to end: real processes (2 senders, 2 receivers, 2 relays of which one leads)
 * on the real PostgreSQL and a Redis server of the test's own, with graphql-ws clients.
 */
describe('a cluster of processes joined by Redis', () => {
  let database: TestDatabase;
  let redis: TestRedisServer;
  let env: NodeJS.ProcessEnv;
  const instances = new Map<string, Instance>();
  const clients: Client[] = [];
  let alice: string;
  let bob: string;

  const url = (name: string) => instances.get(name)!.url;
  const client = (name: string, token: string) => {
    const created = connectClient(url(name), token);
    clients.push(created);
    return created;
  };

  async function start(name: string, role: string): Promise<Instance> {
    const process = ParleyProcess.start(['serve', '--role', role, '--port', '0'], env, 'bin');
    const [, startedUrl] = await process.waitFor(STARTED);
    const instance = { name, process, url: startedUrl! };
    instances.set(name, instance);
    await eventually(async () => expect((await fetch(startedUrl!.replace('/graphql', '/readyz'))).status).toBe(200), 20_000);
    return instance;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = new TestRedisServer(await freePort());
    await redis.start();
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      REDIS_CHANNEL_PREFIX: `e2e-${randomBytes(3).toString('hex')}:`,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      MIGRATE_ON_START: 'false',
      POLL_INTERVAL_MS: '500',
      LOG_LEVEL: 'info',
    };
    const migrated = await runParley(['migrate'], env);
    expect(migrated.code).toBe(0);
    await Promise.all([
      start('sender-1', 'sender'),
      start('sender-2', 'sender'),
      start('receiver-1', 'receiver'),
      start('receiver-2', 'receiver'),
      start('relay-1', 'relay'),
      start('relay-2', 'relay'),
    ]);
    [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);
  }, 120_000);

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
  });

  afterAll(async () => {
    // A stopped process holds SIGTERM until it is continued: never leave one stopped.
    for (const instance of instances.values()) instance.process.child.kill('SIGCONT');
    await Promise.all([...instances.values()].map((instance) => instance.process.stop()));
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
  const relays = () => [...instances.values()].filter((instance) => instance.name.startsWith('relay'));
  /** The relay whose /metrics says it leads, once exactly one does. */
  const currentLeader = () =>
    eventually(async () => {
      const leading = [];
      for (const relay of relays()) if ((await metric(relay.name, 'parley_relay_leader')) === 1) leading.push(relay);
      expect(leading).toHaveLength(1);
      return leading[0]!;
    }, 20_000);
  const timesLed = (instance: Instance) => instance.process.log.match(/now the relay leader/g)?.length ?? 0;
  const leadership = () =>
    withClient(database.url, async (c) => (await c.query('select epoch::int as epoch, holder from relay_leadership')).rows[0] as { epoch: number; holder: string });

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

  it('replaces a frozen relay leader (SIGSTOP) within 10 s; resumed, the old one demotes and nothing arrives twice', async () => {
    const chatId = await newChat();
    const after = await head();
    const watchers = ['receiver-1', 'receiver-2'].map((name) => subscribe(client(name, bob), MESSAGE_ADDED, { c: chatId, a: after }));
    const frozen = await currentLeader();
    const standby = relays().find((relay) => relay !== frozen)!;
    const { epoch } = await leadership();
    const post = (i: number) => ok(url(i % 2 ? 'sender-1' : 'sender-2'), alice, POST, { c: chatId, t: `f${i}` });
    for (let i = 1; i <= 5; i++) await post(i);
    for (const received of watchers) await received.count(5);

    const standbyLed = timesLed(standby);
    frozen.process.child.kill('SIGSTOP');
    try {
      // Its session and lock stay: only the missing heartbeat gives it away.
      await eventually(() => expect(timesLed(standby)).toBe(standbyLed + 1), 10_000);
      expect(await leadership()).toEqual({ epoch: epoch + 1, holder: expect.stringMatching(new RegExp(`:${standby.process.child.pid}$`)) });
      const relayedBefore = await metric(standby.name, 'parley_relay_records_total');
      for (let i = 6; i <= 10; i++) await post(i);
      for (const received of watchers) await received.count(10, 15_000);
      // Delivered by the new leader, not only by the receivers' periodic catch-up. (The counter moves
      // after the relay's checkpoint save, so it may trail the frames.)
      await eventually(async () => expect(await metric(standby.name, 'parley_relay_records_total')).toBeGreaterThan(relayedBefore));
    } finally {
      frozen.process.child.kill('SIGCONT');
    }
    await frozen.process.waitFor(/lost the relay lead/);
    expect(await metric(frozen.name, 'parley_relay_leader')).toBe(0);
    for (let i = 11; i <= 15; i++) await post(i);
    for (const received of watchers) await received.count(15, 15_000);
    // A batch that was on its way when the process stopped may still be counted as it completes; from
    // now on the resumed process publishes nothing.
    const relayedByOld = await metric(frozen.name, 'parley_relay_records_total');
    for (let i = 16; i <= 20; i++) await post(i);
    for (const received of watchers) {
      await received.count(20, 15_000);
      expect(seqs(received)).toEqual(upTo(20));
    }
    expect(await metric(frozen.name, 'parley_relay_records_total')).toBe(relayedByOld);
    expect(await currentLeader()).toBe(standby);
  }, 90_000);

  it('loses nothing when the relay leader is killed: the standby takes over', async () => {
    const chatId = await newChat();
    const after = await head();
    const watcher = subscribe(client('receiver-2', bob), MESSAGE_ADDED, { c: chatId, a: after });
    // After the test above: the standby is the leader that was frozen once, and leads again now.
    const leader = await currentLeader();
    const standby = relays().find((relay) => relay !== leader)!;
    const standbyLed = timesLed(standby);
    const { epoch } = await leadership();
    const posting = (async () => {
      for (let i = 1; i <= 60; i++) await ok(url(i % 2 ? 'sender-1' : 'sender-2'), alice, POST, { c: chatId, t: `r${i}` });
    })();
    await watcher.count(10);
    await leader.process.stop('SIGKILL');
    instances.delete(leader.name);
    await posting;
    await eventually(() => expect(timesLed(standby)).toBe(standbyLed + 1), 20_000);
    expect((await leadership()).epoch).toBe(epoch + 1);
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
    await instances.get('receiver-1')!.process.stop('SIGKILL');
    instances.delete('receiver-1');
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

    const raw = new Redis(redis.url);
    const heard: { cursor: string; messages: { channel: string; payload: { seq: number } }[] }[] = [];
    const partition = await withClient(database.url, async (c) => (await c.query<{ partition: number }>('select partition from chats where id = $1', [chatId])).rows[0]!.partition);
    await raw.ssubscribe(`${env.REDIS_CHANNEL_PREFIX}${feedChannelName({ kind: 'chat', partition, chatId })}`);
    raw.on('smessage', (_, text) => heard.push(JSON.parse(text)));
    try {
      const replayed = await runParley(['outbox', 'replay', '--from', posted[1]!.cursor, '--to', posted[3]!.cursor], env);
      expect(replayed.code).toBe(0);
      expect(replayed.output).toMatch(/re-published \d+ outbox rows/);
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
