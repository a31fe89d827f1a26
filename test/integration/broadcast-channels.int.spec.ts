import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { BroadcastChannels } from '../../src/infrastructure/relay/broadcast-channels';
import { OutboxReader } from '../../src/infrastructure/relay/outbox-reader';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const CHANNELS = [
  'messageAdded',
  'chatMessageNotification',
  'messageUpdateForChatList',
  'unreadCountUpdated',
  'messageReadUpdated',
  'chatAdded',
  'chatUpdated',
  'messageUpdated',
  'messageDeleted',
] as const;
type Channel = (typeof CHANNELS)[number];
const MARKER = 'end-of-test-marker';

const CREATE_CHAT = 'mutation($n: String!, $ids: [ID!]!) { createChat(input: { name: $n, participantIds: $ids }) { id } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id seq cursor } }';
const EDIT = 'mutation($m: ID!, $t: String!) { updateMessage(messageId: $m, content: $t) { id } }';
const DELETE = 'mutation($m: ID!) { deleteMessage(messageId: $m) { id } }';
const READ = 'mutation($m: ID!) { markMessageAsRead(messageId: $m) { readAt } }';
const UPDATE = 'mutation($input: UpdateChatInput!) { updateChat(input: $input) { id } }';
const COUNTS = '{ unreadCounts { chatId userId unreadCount } }';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const CURSOR = /^\d+\.\d+$/;

interface Heard {
  channel: Channel;
  payload: Record<string, any>;
  meta: Record<string, any>;
}

/** A raw classic-pub/sub client on the nine original channels, as an integration outside Parley would be. */
class RawListener {
  readonly heard: Heard[] = [];
  readonly raw: { channel: string; text: string }[] = [];
  private readonly redis = new Redis(process.env.TEST_REDIS_URL!);
  private waiters: (() => void)[] = [];

  constructor(private readonly prefix: string) {
    this.redis.on('message', (channel: string, text: string) => {
      this.raw.push({ channel, text });
      if (text !== MARKER) {
        const name = channel.slice(prefix.length) as Channel;
        const body = JSON.parse(text) as Record<string, any>;
        this.heard.push({ channel: name, payload: body[name], meta: body.meta });
      }
      for (const waiter of this.waiters) waiter();
    });
  }

  async start(): Promise<void> {
    await this.redis.subscribe(...CHANNELS.map((channel) => `${this.prefix}${channel}`));
  }

  /**
   * Everything published on the channels before the call has been heard: a marker published after it
   * on another connection comes after it (Redis runs commands one at a time and delivers in that order).
   */
  async drained(): Promise<void> {
    const marker = new Redis(process.env.TEST_REDIS_URL!);
    const seen = this.raw.filter((item) => item.text === MARKER).length;
    try {
      const arrived = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the marker never came back')), 10_000);
        const check = () => {
          if (this.raw.filter((item) => item.text === MARKER).length > seen) {
            clearTimeout(timer);
            this.waiters = this.waiters.filter((waiter) => waiter !== check);
            resolve();
          }
        };
        this.waiters.push(check);
      });
      await marker.publish(`${this.prefix}messageAdded`, MARKER);
      await arrived;
    } finally {
      marker.disconnect();
    }
  }

  /** What was heard since `from`, by channel. */
  since(from: number, channel?: Channel): Heard[] {
    return this.heard.slice(from).filter((item) => channel === undefined || item.channel === channel);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

function expectKeys(value: Record<string, unknown>, keys: string[]): void {
  expect(Object.keys(value).sort()).toEqual([...keys].sort());
}

/** GraphQL `Message` of DESIGN.md §5, field for field and type for type. */
function expectMessage(message: Record<string, any>): void {
  expectKeys(message, ['id', 'chatId', 'senderId', 'content', 'seq', 'createdAt', 'isEdited', 'editedAt', 'cursor']);
  expect(typeof message.id).toBe('string');
  expect(typeof message.chatId).toBe('string');
  expect(typeof message.senderId).toBe('string');
  expect(typeof message.content).toBe('string');
  expect(Number.isInteger(message.seq)).toBe(true);
  expect(message.createdAt).toMatch(ISO);
  expect(typeof message.isEdited).toBe('boolean');
  if (message.isEdited) expect(message.editedAt).toMatch(ISO);
  else expect(message.editedAt).toBeNull();
  expect(message.cursor).toMatch(CURSOR);
}

function expectChat(chat: Record<string, any>): void {
  expectKeys(chat, ['id', 'name', 'participantIds', 'createdBy', 'createdAt', 'updatedAt', 'lastMessage', 'unreadCount', 'cursor']);
  expect(typeof chat.id).toBe('string');
  expect(typeof chat.name).toBe('string');
  expect(Array.isArray(chat.participantIds) && chat.participantIds.every((id: unknown) => typeof id === 'string')).toBe(true);
  expect(typeof chat.createdBy).toBe('string');
  expect(chat.createdAt).toMatch(ISO);
  expect(chat.updatedAt).toMatch(ISO);
  if (chat.lastMessage !== null) expectMessage(chat.lastMessage);
  expect(Number.isInteger(chat.unreadCount)).toBe(true);
  expect(chat.cursor).toMatch(CURSOR);
}

/** meta of DESIGN.md §3: eventId, cursor, chatId, seq?, occurredAt; userIds on the per-user kinds. */
function expectMeta(item: Heard, chatId: string): void {
  const { meta, payload, channel } = item;
  const perUser = ['chatMessageNotification', 'messageUpdateForChatList', 'unreadCountUpdated', 'chatAdded', 'chatUpdated'].includes(channel);
  const optional = ['seq', 'removedUserIds', ...(perUser ? [] : ['userIds'])];
  const required = ['eventId', 'cursor', 'chatId', 'occurredAt', ...(perUser ? ['userIds'] : [])];
  for (const key of required) expect(meta).toHaveProperty(key);
  for (const key of Object.keys(meta)) expect([...required, ...optional]).toContain(key);
  expect(typeof meta.eventId).toBe('string');
  expect(meta.cursor).toBe(payload.cursor);
  expect(meta.chatId).toBe(chatId);
  expect(meta.occurredAt).toMatch(ISO);
  if (perUser) expect(meta.userIds.length).toBeGreaterThan(0);
  if (meta.seq !== undefined) expect(Number.isInteger(meta.seq)).toBe(true);
}

function shapeOf(item: Heard): void {
  const { channel, payload } = item;
  switch (channel) {
    case 'messageAdded':
    case 'messageUpdated':
      expectMessage(payload);
      break;
    case 'chatMessageNotification':
    case 'messageUpdateForChatList':
      expectKeys(payload, ['chatId', 'message', 'senderId', 'cursor']);
      expectMessage(payload.message);
      expect(payload.message.cursor).toBe(payload.cursor);
      expect(payload.senderId).toBe(payload.message.senderId);
      break;
    case 'messageDeleted':
      expectKeys(payload, ['id', 'chatId', 'cursor']);
      break;
    case 'messageReadUpdated':
      expectKeys(payload, ['messageId', 'chatId', 'userId', 'readAt', 'cursor']);
      expect(payload.readAt).toMatch(ISO);
      break;
    case 'unreadCountUpdated':
      expectKeys(payload, ['chatId', 'userId', 'unreadCount', 'cursor']);
      expect(Number.isInteger(payload.unreadCount)).toBe(true);
      expect(item.meta.userIds).toEqual([payload.userId]);
      break;
    case 'chatAdded':
    case 'chatUpdated':
      expectChat(payload);
      break;
  }
}

const sorted = (values: string[]) => [...values].sort();

/**
 * DESIGN.md §3 "The original channels, for integrations": with REDIS_BROADCAST_CHANNELS=true the relay
 * also publishes the nine original global channels with classic PUBLISH, payloads shaped as the GraphQL
 * types of §5 plus `cursor`, per-user messages naming their users in `meta.userIds`, unread counts as
 * `unreadCounts` answers them. Each step waits until the relay caught up (it publishes these before it
 * moves on), so the counts read at relay time are the ones the queries answer right after.
 */
describe('the original channels (REDIS_BROADCAST_CHANNELS=true)', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let listener: RawListener;
  const prefix = `bc-${randomUUID().slice(0, 8)}:`;
  const tokens: Record<string, string> = {};
  const USERS = ['alice', 'bob', 'carol', 'dave'];
  const call = (user: string, query: string, variables: Record<string, unknown> = {}) => ok(server.url, tokens[user]!, query, variables);

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url, {
      REDIS_URL: process.env.TEST_REDIS_URL!,
      REDIS_CHANNEL_PREFIX: prefix,
      REDIS_BROADCAST_CHANNELS: 'true',
    });
    for (const user of USERS) tokens[user] = await tokenFor(user);
    listener = new RawListener(prefix);
    await listener.start();
  });

  afterAll(async () => {
    await listener?.close();
    await server?.stop();
    await database?.drop();
  });

  /** Runs a step, waits until it is published and heard, and answers what it published. */
  async function step(run: () => Promise<unknown>): Promise<Heard[]> {
    const from = listener.heard.length;
    await run();
    await server.realtime.whenCaughtUp();
    await listener.drained();
    return listener.since(from);
  }

  /** The last unreadCountUpdated heard per user for the chat equals what `unreadCounts` answers each user now. */
  async function expectCountsAsQueried(chatId: string, users: string[]): Promise<void> {
    for (const user of users) {
      const { unreadCounts } = await call(user, COUNTS);
      const queried = unreadCounts.find((count: { chatId: string }) => count.chatId === chatId);
      const heard = listener.heard.filter((item) => item.channel === 'unreadCountUpdated' && item.payload.chatId === chatId && item.payload.userId === user).at(-1);
      expect({ user, count: heard?.payload.unreadCount }).toEqual({ user, count: queried?.unreadCount });
    }
  }

  const of = (heard: Heard[], channel: Channel) => heard.filter((item) => item.channel === channel);
  const countsIn = (heard: Heard[]) => Object.fromEntries(of(heard, 'unreadCountUpdated').map((item) => [item.payload.userId, item.payload.unreadCount]));
  const usersOf = (items: Heard[]) => sorted(items.flatMap((item) => item.meta.userIds));

  it('publishes every kind with its original shape, naming the right users and their counts', async () => {
    let chatId = '';
    const created = await step(async () => {
      chatId = (await call('alice', CREATE_CHAT, { n: 'broadcast', ids: ['bob', 'carol'] })).createChat.id;
    });
    expect(of(created, 'chatAdded')).toHaveLength(1);
    const [added] = of(created, 'chatAdded');
    expect(usersOf([added!])).toEqual(['alice', 'bob', 'carol']);
    expect(added!.payload).toMatchObject({ id: chatId, name: 'broadcast', createdBy: 'alice', lastMessage: null, unreadCount: 0 });
    expect(sorted(added!.payload.participantIds)).toEqual(['alice', 'bob', 'carol']);
    expect(countsIn(created)).toEqual({ alice: 0, bob: 0, carol: 0 });

    let m1 = { id: '', seq: 0, cursor: '' };
    const first = await step(async () => (m1 = (await call('alice', POST, { c: chatId, t: 'one' })).createMessage));
    expect(of(first, 'messageAdded').map((item) => item.payload)).toEqual([
      expect.objectContaining({ id: m1.id, chatId, senderId: 'alice', content: 'one', seq: 1, isEdited: false, editedAt: null, cursor: m1.cursor }),
    ]);
    for (const channel of ['chatMessageNotification', 'messageUpdateForChatList'] as const) {
      expect(of(first, channel)).toHaveLength(1);
      expect(usersOf(of(first, channel))).toEqual(['bob', 'carol']);
      expect(of(first, channel)[0]!.payload).toMatchObject({ chatId, senderId: 'alice', cursor: m1.cursor, message: { id: m1.id, seq: 1 } });
    }
    expect(of(first, 'messageAdded')[0]!.meta).toMatchObject({ chatId, seq: 1, cursor: m1.cursor });
    expect(countsIn(first)).toEqual({ alice: 0, bob: 1, carol: 1 });

    let m2 = { id: '', seq: 0, cursor: '' };
    const second = await step(async () => (m2 = (await call('bob', POST, { c: chatId, t: 'two' })).createMessage));
    expect(usersOf(of(second, 'chatMessageNotification'))).toEqual(['alice', 'carol']);
    expect(countsIn(second)).toEqual({ alice: 1, bob: 0, carol: 2 });

    const edited = await step(() => call('alice', EDIT, { m: m1.id, t: 'one, edited' }));
    expect(of(edited, 'messageUpdated').map((item) => item.payload)).toEqual([
      expect.objectContaining({ id: m1.id, content: 'one, edited', isEdited: true, seq: 1 }),
    ]);
    expect(of(edited, 'unreadCountUpdated')).toEqual([]);

    const deleted = await step(() => call('bob', DELETE, { m: m2.id }));
    expect(of(deleted, 'messageDeleted').map((item) => item.payload)).toEqual([{ id: m2.id, chatId, cursor: expect.stringMatching(CURSOR) }]);
    expect(of(deleted, 'messageDeleted')[0]!.meta.seq).toBe(2);
    expect(countsIn(deleted)).toEqual({ alice: 0, bob: 0, carol: 1 });

    const read = await step(() => call('carol', READ, { m: m1.id }));
    expect(of(read, 'messageReadUpdated').map((item) => item.payload)).toEqual([
      expect.objectContaining({ messageId: m1.id, chatId, userId: 'carol' }),
    ]);
    expect(countsIn(read)).toEqual({ carol: 0 });

    // Counts that differ per user: alice 0, bob 1, carol 1.
    await step(() => call('alice', POST, { c: chatId, t: 'three' }));
    const renamed = await step(() => call('alice', UPDATE, { input: { chatId, name: 'renamed' } }));
    const renames = of(renamed, 'chatUpdated');
    // One message per Chat.unreadCount, naming exactly the users who have it.
    expect(renames.map((item) => [item.payload.unreadCount, sorted(item.meta.userIds)]).sort()).toEqual([[0, ['alice']], [1, ['bob', 'carol']]]);
    for (const item of renames) expect(item.payload).toMatchObject({ name: 'renamed', lastMessage: { content: 'three', seq: 3 } });
    expect(new Set(renames.map((item) => item.meta.eventId)).size).toBe(1);

    const joined = await step(() => call('alice', UPDATE, { input: { chatId, addParticipantIds: ['dave'] } }));
    expect(of(joined, 'chatAdded').map((item) => [item.payload.unreadCount, item.meta.userIds])).toEqual([[2, ['dave']]]);
    expect(usersOf(of(joined, 'chatUpdated'))).toEqual(['alice', 'bob', 'carol']);
    expect(countsIn(joined)).toEqual({ dave: 2 });

    const left = await step(() => call('alice', UPDATE, { input: { chatId, removeParticipantIds: ['carol'] } }));
    const removal = of(left, 'chatUpdated');
    expect(usersOf(removal)).toEqual(['alice', 'bob', 'carol', 'dave']);
    for (const item of removal) {
      expect(item.meta.removedUserIds).toEqual(['carol']);
      expect(sorted(item.payload.participantIds)).toEqual(['alice', 'bob', 'dave']);
    }
    expect(removal.find((item) => item.meta.userIds.includes('carol'))!.payload.unreadCount).toBe(0);

    // After the removal: carol is no recipient, dave is.
    const after = await step(() => call('bob', POST, { c: chatId, t: 'four' }));
    expect(usersOf(of(after, 'chatMessageNotification'))).toEqual(['alice', 'dave']);
    expect(usersOf(of(after, 'messageUpdateForChatList'))).toEqual(['alice', 'dave']);
    expect(sorted(Object.keys(countsIn(after)))).toEqual(['alice', 'bob', 'dave']);

    // Every message: its channel's GraphQL shape and DESIGN.md §3's meta.
    expect(new Set(listener.heard.map((item) => item.channel))).toEqual(new Set(CHANNELS));
    for (const item of listener.heard) {
      shapeOf(item);
      expectMeta(item, chatId);
    }
    await expectCountsAsQueried(chatId, ['alice', 'bob', 'dave']);
  });

  it('names the recipients a post had when it was committed, even when membership changed before the relay read it', async () => {
    const { createChat } = await call('alice', CREATE_CHAT, { n: 'racing', ids: ['bob'] });
    const chatId = createChat.id;
    await server.realtime.whenCaughtUp();
    const from = listener.heard.length;
    const start = (await call('alice', '{ head }')).head as string;
    // Committed back to back, usually read by the relay in one page: a post, an add, a post, a removal, a post.
    const p1 = (await call('alice', POST, { c: chatId, t: 'before dave' })).createMessage;
    await call('alice', UPDATE, { input: { chatId, addParticipantIds: ['dave'] } });
    const p2 = (await call('alice', POST, { c: chatId, t: 'with dave' })).createMessage;
    await call('alice', UPDATE, { input: { chatId, removeParticipantIds: ['bob'] } });
    const p3 = (await call('alice', POST, { c: chatId, t: 'without bob' })).createMessage;
    await server.realtime.whenCaughtUp();
    await listener.drained();
    const notified = (id: string) => usersOf(listener.since(from, 'chatMessageNotification').filter((item) => item.payload.message.id === id));
    expect(notified(p1.id)).toEqual(['bob']);
    expect(notified(p2.id)).toEqual(['bob', 'dave']);
    expect(notified(p3.id)).toEqual(['dave']);
    await expectCountsAsQueried(chatId, ['alice', 'dave']);

    // The same rows as one page read after all of them committed (the relay's worst case): the
    // participants at each post are unwound from today's, not taken as today's.
    const page = await new OutboxReader(server.database.orm).page(start, { limits: { rows: 1000 } });
    const published: [string, string][] = [];
    const broadcast = new BroadcastChannels({
      orm: server.database.orm,
      publish: async (messages) => void published.push(...messages.map(([channel, text]) => [channel, text] as [string, string])),
      onError: (error) => {
        throw error;
      },
    });
    await broadcast.publishPage(page.records.filter((record) => record.chatId === chatId));
    const late = published.map(([channel, text]) => ({ channel, body: JSON.parse(text) as Record<string, any> }));
    const lateNotified = (id: string) =>
      sorted(late.filter((item) => item.channel === 'chatMessageNotification' && item.body.chatMessageNotification.message.id === id).flatMap((item) => item.body.meta.userIds));
    expect([lateNotified(p1.id), lateNotified(p2.id), lateNotified(p3.id)]).toEqual([['bob'], ['bob', 'dave'], ['dave']]);
    // Current counts, each user's once, after the last row that changed it; bob is no longer in the chat.
    const lateCounts = late.filter((item) => item.channel === 'unreadCountUpdated').map((item) => item.body.unreadCountUpdated);
    expect(sorted(lateCounts.map((count) => count.userId))).toEqual(['alice', 'dave']);
    expect(lateCounts.find((count) => count.userId === 'dave').cursor).toBe(p3.cursor);
  });
});

describe('the original channels without REDIS_BROADCAST_CHANNELS', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let listener: RawListener;
  const prefix = `nobc-${randomUUID().slice(0, 8)}:`;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url, { REDIS_URL: process.env.TEST_REDIS_URL!, REDIS_CHANNEL_PREFIX: prefix });
    listener = new RawListener(prefix);
    await listener.start();
  });

  afterAll(async () => {
    await listener?.close();
    await server?.stop();
    await database?.drop();
  });

  it('publishes nothing on them', async () => {
    const alice = await tokenFor('alice');
    const bob = await tokenFor('bob');
    const { createChat } = await ok(server.url, alice, CREATE_CHAT, { n: 'quiet', ids: ['bob'] });
    const { createMessage } = await ok(server.url, alice, POST, { c: createChat.id, t: 'hello' });
    await ok(server.url, bob, READ, { m: createMessage.id });
    await ok(server.url, alice, UPDATE, { input: { chatId: createChat.id, name: 'still quiet', addParticipantIds: ['carol'] } });
    await server.realtime.whenCaughtUp();
    await listener.drained();
    expect(listener.raw.map((item) => item.text)).toEqual([MARKER]);
  });
});
