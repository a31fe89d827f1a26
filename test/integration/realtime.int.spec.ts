import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const CREATE_CHAT = `mutation($name: String!, $ids: [ID!]!) { createChat(input: { name: $name, participantIds: $ids }) { id cursor } }`;
const POST = `mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { id seq cursor } }`;
const MARK = `mutation($id: ID!) { markMessageAsRead(messageId: $id) { readAt cursor } }`;
const MESSAGE_FIELDS = 'id chatId senderId content seq createdAt isEdited editedAt cursor';

describe('real-time over graphql-ws (one process)', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let url: string;
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    url = server.url;
    for (const user of ['alice', 'bob', 'mallory']) tokens[user] = await tokenFor(user);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.dispose()));
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  function client(user: string, onClosed?: (code: number, reason: string) => void): Client {
    const created = connectClient(url, tokens[user] ?? null, onClosed);
    clients.push(created);
    return created;
  }

  const head = async (user = 'alice') => (await ok(url, tokens[user]!, '{ head }')).head as string;
  const post = async (user: string, chatId: string, content: string) => (await ok(url, tokens[user]!, POST, { chatId, content })).createMessage;
  const newChat = async (name = 'live') => (await ok(url, tokens.alice!, CREATE_CHAT, { name, ids: ['bob'] })).createChat;

  it('lets two users see each other’s messages, notifications, list updates, counts and receipts live', async () => {
    const start = await head();
    const aliceClient = client('alice');
    const bobClient = client('bob');
    const bobChats = subscribe(bobClient, `subscription($after: String) { chatAdded(after: $after) { id name participantIds unreadCount cursor } }`, { after: start });
    const chat = await newChat('pair');
    const [added] = await bobChats.count(1);
    expect(added).toMatchObject({ id: chat.id, name: 'pair', unreadCount: 0 });
    // A user-scoped kind's cursor is the subscription's position, one per partition: it includes the chat's event.
    expect(added.cursor).toContain(chat.cursor);

    const from = await head();
    const vars = { chatId: chat.id, after: from };
    const aliceMessages = subscribe(aliceClient, `subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { ${MESSAGE_FIELDS} } }`, vars);
    const bobMessages = subscribe(bobClient, `subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { ${MESSAGE_FIELDS} } }`, vars);
    const bobNotifications = subscribe(bobClient, `subscription($after: String) { chatMessageNotification(after: $after) { chatId senderId message { id content } cursor } }`, { after: from });
    const aliceNotifications = subscribe(aliceClient, `subscription($after: String) { chatMessageNotification(after: $after) { chatId senderId message { id content } cursor } }`, { after: from });
    const bobList = subscribe(bobClient, `subscription($after: String) { messageUpdateForChatList(after: $after) { chatId senderId message { seq } cursor } }`, { after: from });
    const bobCounts = subscribe(bobClient, `subscription($after: String) { unreadCountUpdated(after: $after) { chatId userId unreadCount cursor } }`, { after: from });
    const aliceReceipts = subscribe(aliceClient, `subscription($chatId: ID!, $after: String) { messageReadUpdated(chatId: $chatId, after: $after) { messageId userId readAt cursor } }`, vars);

    // resuming sends the current value first (0 for the new chat); waited for, since a post that
    // commits before the resume reads the counts would make that first value 1
    expect((await bobCounts.count(1))[0]).toMatchObject({ chatId: chat.id, unreadCount: 0 });

    const hello = await post('alice', chat.id, 'hello bob');
    const reply = await post('bob', chat.id, 'hi alice');

    for (const received of [aliceMessages, bobMessages]) {
      const messages = await received.count(2);
      expect(messages.map((m) => [m.seq, m.senderId, m.content])).toEqual([[1, 'alice', 'hello bob'], [2, 'bob', 'hi alice']]);
      expect(messages.map((m) => m.cursor)).toEqual([hello.cursor, reply.cursor]);
      expect(messages[0]).toMatchObject({ id: hello.id, chatId: chat.id, isEdited: false, editedAt: null });
    }
    // notifications and list updates go to the other participant, never the sender
    expect(await bobNotifications.count(1)).toEqual([{ chatId: chat.id, senderId: 'alice', message: { id: hello.id, content: 'hello bob' }, cursor: expect.stringContaining(hello.cursor) }]);
    expect(await aliceNotifications.count(1)).toEqual([{ chatId: chat.id, senderId: 'bob', message: { id: reply.id, content: 'hi alice' }, cursor: expect.stringContaining(reply.cursor) }]);
    expect((await bobList.count(1))[0]).toMatchObject({ senderId: 'alice', message: { seq: 1 } });

    // bob's count rose with alice's message and fell to zero with his own reply (posting reads); changes
    // may be coalesced, but the last value sent is the current one
    await bobCounts.until(() => bobCounts.items.at(-1)?.cursor === reply.cursor, 15_000, 'the count after the reply');
    expect(bobCounts.items.at(-1)).toEqual({ chatId: chat.id, userId: 'bob', unreadCount: 0, cursor: reply.cursor });
    // no value is ever sent twice
    const sent = bobCounts.items.map((count) => `${count.cursor}/${count.unreadCount}`);
    expect(new Set(sent).size).toBe(sent.length);

    // bob's reply already read hello; alice's next message is one he can mark
    const third = await post('alice', chat.id, 'are you there?');
    await bobCounts.until(() => bobCounts.items.at(-1)?.cursor === third.cursor, 15_000, 'the count after the third message');
    expect(bobCounts.items.at(-1)?.unreadCount).toBe(1);
    const receipt = (await ok(url, tokens.bob!, MARK, { id: third.id })).markMessageAsRead;
    expect(await aliceReceipts.count(1)).toEqual([{ messageId: third.id, userId: 'bob', readAt: receipt.readAt, cursor: receipt.cursor }]);
    await bobCounts.until(() => bobCounts.items.at(-1)?.cursor === receipt.cursor, 15_000, 'the count after reading');
    const { unreadCounts } = await ok(url, tokens.bob!, '{ unreadCounts { chatId unreadCount cursor } }');
    expect(unreadCounts).toContainEqual({ chatId: chat.id, unreadCount: 0, cursor: receipt.cursor });
    expect(bobCounts.items.at(-1)).toMatchObject({ unreadCount: 0, cursor: receipt.cursor });
    expect(bobNotifications.items.map((n) => n.message.id)).toEqual([hello.id, third.id]);
    expect(aliceNotifications.items.map((n) => n.message.id)).toEqual([reply.id]);
  });

  it('sends chatUpdated, messageUpdated and messageDeleted to participants', async () => {
    const chat = await newChat('before');
    const message = await post('alice', chat.id, 'draft');
    const from = await head();
    const bobClient = client('bob');
    const updates = subscribe(bobClient, `subscription($after: String) { chatUpdated(after: $after) { id name unreadCount lastMessage { id } cursor } }`, { after: from });
    const edits = subscribe(bobClient, `subscription($c: ID!, $after: String) { messageUpdated(chatId: $c, after: $after) { id content isEdited editedAt createdAt } }`, { c: chat.id, after: from });
    const deletions = subscribe(bobClient, `subscription($c: ID!, $after: String) { messageDeleted(chatId: $c, after: $after) { id chatId cursor } }`, { c: chat.id, after: from });

    await ok(url, tokens.alice!, 'mutation($input: UpdateChatInput!) { updateChat(input: $input) { id } }', { input: { chatId: chat.id, name: 'after' } });
    await ok(url, tokens.alice!, 'mutation($id: ID!) { updateMessage(messageId: $id, content: "final") { id } }', { id: message.id });
    const deleted = (await ok(url, tokens.alice!, 'mutation($id: ID!) { deleteMessage(messageId: $id) { id chatId cursor } }', { id: message.id })).deleteMessage;

    expect((await updates.count(1))[0]).toMatchObject({ id: chat.id, name: 'after', lastMessage: { id: message.id } });
    expect((await updates.count(1))[0].unreadCount).toEqual(expect.any(Number));
    expect((await edits.count(1))[0]).toMatchObject({ id: message.id, content: 'final', isEdited: true });
    expect(await deletions.count(1)).toEqual([deleted]);
  });

  it('refuses a non-participant, and closes a socket without a valid token with 4401', async () => {
    const chat = await newChat('private');
    const refused = subscribe(client('mallory'), `subscription($c: ID!) { messageAdded(chatId: $c) { id } }`, { c: chat.id });
    expect(await refused.error()).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })]);

    const missing = subscribe(client('nobody'), `subscription { chatAdded { id } }`);
    expect(await missing.error()).toMatchObject({ code: 4401 });
    tokens.forged = 'forged.token.value';
    const forged = subscribe(client('forged'), `subscription { chatAdded { id } }`);
    expect(await forged.error()).toMatchObject({ code: 4401 });
    const badCursor = subscribe(client('alice'), `subscription($c: ID!) { messageAdded(chatId: $c, after: "yesterday") { id } }`, { c: chat.id });
    expect(await badCursor.error()).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })]);
  });

  it('resumes after a disconnect with exactly the 50 missed messages in order, then live ones', async () => {
    const chat = await newChat('resume');
    const query = `subscription($c: ID!, $after: String) { messageAdded(chatId: $c, after: $after) { seq cursor } }`;
    const first = subscribe(client('bob'), query, { c: chat.id, after: await head() });
    for (let i = 1; i <= 5; i++) await post('alice', chat.id, `before ${i}`);
    const seen = await first.count(5);
    await Promise.all(clients.splice(0).map((c) => c.dispose()));

    for (let i = 1; i <= 50; i++) await post('alice', chat.id, `missed ${i}`);

    const resumed = subscribe(client('bob'), query, { c: chat.id, after: seen[4].cursor });
    const replayed = await resumed.count(50);
    expect(replayed.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 6));
    await post('alice', chat.id, 'live again');
    const all = await resumed.count(51);
    expect(all[50].seq).toBe(56);
    expect(new Set(all.map((m) => m.cursor)).size).toBe(51);
  });

  it('makes head + a query + a subscription after head gapless while messages keep coming', async () => {
    const chat = await newChat('gapless');
    const writing = (async () => {
      for (let i = 0; i < 40; i++) await post(i % 2 ? 'alice' : 'bob', chat.id, `m${i}`);
    })();
    const cursor = await head('bob');
    const page = (await ok(url, tokens.bob!, 'query($c: ID!) { messages(chatId: $c, limit: 200) { messages { seq } } }', { c: chat.id })).messages.messages;
    const live = subscribe(client('bob'), `subscription($c: ID!, $after: String) { messageAdded(chatId: $c, after: $after) { seq } }`, { c: chat.id, after: cursor });
    await writing;
    // what the query showed, plus what came live after head, covers every message (overlap is allowed)
    const union = () => new Set<number>([...page.map((m: { seq: number }) => m.seq), ...live.items.map((m) => m.seq)]);
    await live.until(() => union().size >= 40, 15_000, 'all 40 seqs');
    expect([...union()].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(live.items.map((m) => m.seq)).size).toBe(live.items.length);
  });
});
