import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import Redis from 'ioredis';
import { feedChannelName } from '../../src/application';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { ParleyProcess, runParley } from '../support/parley-process';
import { freePort, TestRedisServer } from '../support/redis-server';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { TEST_JWT_SECRET, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const STARTED = /Parley GraphQL: (http:\/\/\S+) \(roles: /;
const CREATE_CHAT = 'mutation($n: String!, $ids: [ID!]!) { createChat(input: { name: $n, participantIds: $ids }) { id } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id } }';
const MESSAGE_ADDED = 'subscription($c: ID!) { messageAdded(chatId: $c) { id } }';
const NOTIFICATIONS = 'subscription { chatMessageNotification { chatId message { id } } }';
const HEARD = 'parley_receiver_events_heard_total';

/**
 * DESIGN.md §4 "Interest, not broadcast", with real processes (a sender, a relay, two receivers) and a
 * Redis of the test's own: an event of a chat that nobody on a receiver follows never reaches that
 * receiver. Shown where it is counted, in Redis (who subscribes to what) and in the receiver's own
 * metric of the rows it heard, never by timing: the posts to the unfollowed chat are known to have
 * passed once a later post to a followed chat of the same partition (published after them, on the
 * same slot and connection) has arrived.
 */
describe('a receiver hears only the chats its clients need', () => {
  let database: TestDatabase;
  let redis: TestRedisServer;
  let env: NodeJS.ProcessEnv;
  let prefix: string;
  const processes: ParleyProcess[] = [];
  const urls: Record<string, string> = {};
  const clients: Client[] = [];

  async function start(name: string, role: string): Promise<void> {
    const process = ParleyProcess.start(['serve', '--role', role, '--port', '0'], env, 'bin');
    processes.push(process);
    const [, url] = await process.waitFor(STARTED);
    urls[name] = url!;
    await eventually(async () => expect((await fetch(url!.replace('/graphql', '/readyz'))).status).toBe(200), 20_000);
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = new TestRedisServer(await freePort());
    await redis.start();
    prefix = `interest-${randomBytes(3).toString('hex')}:`;
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      REDIS_CHANNEL_PREFIX: prefix,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      MIGRATE_ON_START: 'false',
      POLL_INTERVAL_MS: '500',
      RELAY_PARTITIONS: '4',
      LOG_LEVEL: 'info',
    };
    expect((await runParley(['migrate'], env)).code).toBe(0);
    await Promise.all([start('sender', 'sender'), start('relay', 'relay'), start('receiver-a', 'receiver'), start('receiver-b', 'receiver')]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await Promise.all(processes.map((process) => process.stop()));
    await redis?.stop();
    await database?.drop();
  });

  const heard = async (name: string) => {
    const text = await (await fetch(urls[name]!.replace('/graphql', '/metrics'))).text();
    const value = (needed: string) => Number(text.match(new RegExp(`^${HEARD}\\{needed="${needed}"\\} (\\S+)$`, 'm'))?.[1] ?? 0);
    return { yes: value('yes'), no: value('no') };
  };
  const partitionOf = (chatId: string) =>
    withClient(database.url, async (c) => (await c.query<{ partition: number }>('select partition from chats where id = $1', [chatId])).rows[0]!.partition);

  it('a chat nobody follows on receiver A costs it nothing: not subscribed in Redis, not heard', async () => {
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((user) => tokenFor(user)));
    const call = (token: string, query: string, variables: Record<string, unknown>) => ok(urls.sender!, token, query, variables);
    const chatX = (await call(alice, CREATE_CHAT, { n: 'followed', ids: ['bob'] })).createChat.id as string;
    const partition = await partitionOf(chatX);
    // Y in X's partition: one slot, one publisher script order, so a later post to X proves Y's passed.
    let chatY = '';
    for (let attempt = 0; attempt < 100 && !chatY; attempt++) {
      const candidate = (await call(carol, CREATE_CHAT, { n: 'unfollowed', ids: ['dave'] })).createChat.id as string;
      if ((await partitionOf(candidate)) === partition) chatY = candidate;
    }
    expect(chatY).not.toBe('');

    // Receiver A: bob follows X only, and holds a user-scoped subscription (bob is not in Y).
    const onA = connectClient(urls['receiver-a']!, bob);
    // Receiver B: alice follows X; nobody anywhere follows Y.
    const onB = connectClient(urls['receiver-b']!, alice);
    clients.push(onA, onB);
    const xOnA = subscribe(onA, MESSAGE_ADDED, { c: chatX });
    const bobNotified = subscribe(onA, NOTIFICATIONS);
    const xOnB = subscribe(onB, MESSAGE_ADDED, { c: chatX });
    // Live everywhere once a post to X reaches every subscription (they start live, without `after`);
    // then one more, awaited, so that no probe is still on its way to A when counting starts.
    await eventually(async () => {
      await call(alice, POST, { c: chatX, t: 'probe' });
      await eventually(() => expect([xOnA, bobNotified, xOnB].map((received) => received.items.length > 0)).toEqual([true, true, true]), 2000);
    }, 20_000);
    const settled = (await call(alice, POST, { c: chatX, t: 'settled' })).createMessage.id as string;
    await xOnA.until(() => xOnA.items.some((item: { id: string }) => item.id === settled), 15_000, 'the settling post');
    await bobNotified.until(() => bobNotified.items.some((item: { message: { id: string } }) => item.message.id === settled), 15_000, 'its notification');

    // Redis: X's channel has subscribers (both receivers), Y's none, and no channel of Y exists.
    const admin = new Redis(redis.url);
    try {
      const channelOf = (chatId: string) => `${prefix}${feedChannelName({ kind: 'chat', partition, chatId })}`;
      const numsub = async (chatId: string) => Number(((await admin.call('PUBSUB', 'SHARDNUMSUB', channelOf(chatId))) as [string, number])[1]);
      const shardChannels = async () => (await admin.call('PUBSUB', 'SHARDCHANNELS', `${prefix}*`)) as string[];
      expect(await numsub(chatX)).toBeGreaterThanOrEqual(2);
      expect(await numsub(chatY)).toBe(0);
      expect((await shardChannels()).filter((channel) => channel.includes(chatY))).toEqual([]);
      expect((await shardChannels()).filter((channel) => channel.includes(chatX)).length).toBeGreaterThan(0);

      // 20 posts to Y, then 3 to X; A waits for the last post to X.
      const before = await heard('receiver-a');
      for (let i = 0; i < 20; i++) await call(carol, POST, { c: chatY, t: `y${i}` });
      const toX: string[] = [];
      for (let i = 0; i < 3; i++) toX.push((await call(alice, POST, { c: chatX, t: `x${i}` })).createMessage.id);
      await xOnA.until(() => xOnA.items.some((item: { id: string }) => item.id === toX.at(-1)), 15_000, 'the last post to X');
      await bobNotified.until(() => bobNotified.items.some((item: { message: { id: string } }) => item.message.id === toX.at(-1)), 15_000, 'its notification');
      const after = await heard('receiver-a');
      // Exactly the posts to X were heard, each once, each needed; nothing of Y.
      expect({ yes: after.yes - before.yes, no: after.no - before.no }).toEqual({ yes: toX.length, no: 0 });
      expect(bobNotified.items.filter((item: { chatId: string }) => item.chatId === chatY)).toEqual([]);

      // Still so after the posts: Y's channel never got a subscriber.
      expect(await numsub(chatY)).toBe(0);
      expect((await shardChannels()).filter((channel) => channel.includes(chatY))).toEqual([]);
    } finally {
      admin.disconnect();
    }
  }, 90_000);
});
