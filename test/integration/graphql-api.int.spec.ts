import type { RunningServer } from '../../src/interfaces/composition/server';
import { errorCodes, graphql, ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor, TEST_JWT_SECRET } from '../support/test-server';
import { signDevelopmentToken } from '../../src/infrastructure/auth/development-token';
import { eventually } from '../support/eventually';

const CREATE_CHAT = `mutation($name: String!, $ids: [ID!]!) {
  createChat(input: { name: $name, participantIds: $ids }) { id name participantIds createdBy unreadCount cursor lastMessage { id } }
}`;
const UPDATE_CHAT = `mutation($input: UpdateChatInput!) { updateChat(input: $input) { id name participantIds } }`;
const POST = `mutation($chatId: ID!, $content: String!, $clientMessageId: String) {
  createMessage(createMessageInput: { chatId: $chatId, content: $content, clientMessageId: $clientMessageId }) {
    id chatId senderId content seq createdAt isEdited editedAt cursor
  }
}`;
const EDIT = `mutation($id: ID!, $content: String!) { updateMessage(messageId: $id, content: $content) { id content isEdited editedAt seq } }`;
const DELETE = `mutation($id: ID!) { deleteMessage(messageId: $id) { id chatId cursor } }`;
const MARK = `mutation($id: ID!) { markMessageAsRead(messageId: $id) { messageId chatId userId readAt cursor } }`;
const PAGE = `query($chatId: ID!, $afterSeq: Int, $beforeSeq: Int, $limit: Int) {
  messages(chatId: $chatId, afterSeq: $afterSeq, beforeSeq: $beforeSeq, limit: $limit) { hasMore messages { id seq content } }
}`;

describe('GraphQL API over HTTP (one instance, real PostgreSQL)', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let url: string;
  let alice: string;
  let bob: string;
  let mallory: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    url = server.url;
    [alice, bob, mallory] = await Promise.all([tokenFor('alice'), tokenFor('bob'), tokenFor('mallory')]);
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  const countRows = () =>
    withClient(database.url, async (client) => {
      const { rows } = await client.query(
        `select (select count(*)::int from events) as events, (select count(*)::int from outbox where event_position is not null) as outbox,
                (select count(*)::int from messages) as messages, (select count(*)::int from chats) as chats`,
      );
      return rows[0];
    });

  async function newChat(name = 'team', ids = ['bob']) {
    return (await ok(url, alice, CREATE_CHAT, { name, ids })).createChat;
  }

  async function post(token: string, chatId: string, content: string) {
    return (await ok(url, token, POST, { chatId, content })).createMessage;
  }

  describe('identity', () => {
    it('answers me with the sub of the token', async () => {
      expect(await ok(url, alice, '{ me }')).toEqual({ me: 'alice' });
    });

    it.each([
      ['no token', null],
      ['a malformed token', 'not-a-jwt'],
      ['a token signed with another secret', 'other'],
      ['an expired token', 'expired'],
    ])('refuses %s with UNAUTHENTICATED', async (_, kind) => {
      let token: string | null = kind;
      if (kind === 'other') token = await signDevelopmentToken('another-secret-0123456789', 'alice');
      if (kind === 'expired') token = await signDevelopmentToken(TEST_JWT_SECRET, 'alice', '-10s');
      const response = await graphql(url, token, '{ me chats { id } }');
      expect(errorCodes(response)).toContain('UNAUTHENTICATED');
      expect(response.data ?? null).toBeNull();
    });
  });

  describe('chats', () => {
    it('creates a chat whose creator is a participant, and reads it back at once', async () => {
      const chat = await newChat(' Team  ', ['bob', 'bob']);
      expect(chat).toMatchObject({ name: 'Team', createdBy: 'alice', unreadCount: 0, lastMessage: null });
      expect([...chat.participantIds].sort()).toEqual(['alice', 'bob']);
      const { chats } = await ok(url, bob, '{ chats { id name } }');
      expect(chats).toContainEqual({ id: chat.id, name: 'Team' });
      expect((await ok(url, bob, 'query($id: ID!) { chat(id: $id) { id } }', { id: chat.id })).chat.id).toBe(chat.id);
    });

    it('answers NOT_FOUND for a chat that does not exist and FORBIDDEN to a non-participant', async () => {
      const chat = await newChat();
      const missing = await graphql(url, alice, 'query($id: ID!) { chat(id: $id) { id } }', {
        id: '00000000-0000-4000-8000-000000000000',
      });
      expect(errorCodes(missing)).toEqual(['NOT_FOUND']);
      const malformed = await graphql(url, alice, 'query($id: ID!) { chat(id: $id) { id } }', { id: 'nope' });
      expect(errorCodes(malformed)).toEqual(['NOT_FOUND']);
      const forbidden = await graphql(url, mallory, 'query($id: ID!) { chat(id: $id) { id } }', { id: chat.id });
      expect(errorCodes(forbidden)).toEqual(['FORBIDDEN']);
      expect(errorCodes(await graphql(url, mallory, PAGE, { chatId: chat.id }))).toEqual(['FORBIDDEN']);
    });

    it('renames, adds and removes participants; only the creator removes others', async () => {
      const chat = await newChat();
      const renamed = await ok(url, bob, UPDATE_CHAT, { input: { chatId: chat.id, name: 'Renamed', addParticipantIds: ['carol'] } });
      expect(renamed.updateChat.name).toBe('Renamed');
      expect([...renamed.updateChat.participantIds].sort()).toEqual(['alice', 'bob', 'carol']);
      const byBob = await graphql(url, bob, UPDATE_CHAT, { input: { chatId: chat.id, removeParticipantIds: ['carol'] } });
      expect(errorCodes(byBob)).toEqual(['FORBIDDEN']);
      const creator = await graphql(url, alice, UPDATE_CHAT, { input: { chatId: chat.id, removeParticipantIds: ['alice'] } });
      expect(errorCodes(creator)).toEqual(['BAD_USER_INPUT']);
      const left = await ok(url, bob, UPDATE_CHAT, { input: { chatId: chat.id, removeParticipantIds: ['bob'] } });
      expect(left.updateChat.participantIds).not.toContain('bob');
      expect(errorCodes(await graphql(url, bob, POST, { chatId: chat.id, content: 'still here?' }))).toEqual(['FORBIDDEN']);
    });

    it.each([
      ['an empty name', { name: '   ', ids: ['bob'] }],
      ['a name of 201 characters', { name: 'n'.repeat(201), ids: ['bob'] }],
      ['1001 participants', { name: 'crowd', ids: Array.from({ length: 1000 }, (_, i) => `user-${i}`) }],
      ['an empty participant id', { name: 'x', ids: [''] }],
    ])('refuses %s with BAD_USER_INPUT and writes nothing', async (_, variables) => {
      const before = await countRows();
      const response = await graphql(url, alice, CREATE_CHAT, variables);
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
      expect(await countRows()).toEqual(before);
    });
  });

  describe('messages', () => {
    it('posts with a per-chat seq and answers the stored message', async () => {
      const chat = await newChat();
      const first = await post(alice, chat.id, '  hello  ');
      const second = await post(bob, chat.id, 'hi');
      expect(first).toMatchObject({ chatId: chat.id, senderId: 'alice', content: 'hello', seq: 1, isEdited: false, editedAt: null });
      expect(second.seq).toBe(2);
      expect(new Date(first.createdAt).toISOString()).toBe(first.createdAt);
      await eventually(async () => {
        const { chat: read } = await ok(url, bob, 'query($id: ID!) { chat(id: $id) { lastMessage { id } unreadCount } }', { id: chat.id });
        expect(read).toEqual({ lastMessage: { id: second.id }, unreadCount: 0 });
      });
    });

    it('refuses a non-participant with FORBIDDEN and writes nothing', async () => {
      const chat = await newChat();
      const before = await countRows();
      const response = await graphql(url, mallory, POST, { chatId: chat.id, content: 'let me in' });
      expect(errorCodes(response)).toEqual(['FORBIDDEN']);
      expect(await countRows()).toEqual(before);
    });

    it.each([
      ['empty content', ''],
      ['whitespace-only content', ' \n\t '],
      ['content of 4001 characters', 'x'.repeat(4001)],
    ])('refuses %s with BAD_USER_INPUT and writes nothing', async (_, content) => {
      const chat = await newChat();
      const before = await countRows();
      const response = await graphql(url, alice, POST, { chatId: chat.id, content });
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
      expect(await countRows()).toEqual(before);
    });

    it('accepts exactly 4000 characters', async () => {
      const chat = await newChat();
      expect((await post(alice, chat.id, 'y'.repeat(4000))).content).toHaveLength(4000);
    });

    it('answers NOT_FOUND when posting to a chat that does not exist', async () => {
      const response = await graphql(url, alice, POST, { chatId: '00000000-0000-4000-8000-000000000001', content: 'hi' });
      expect(errorCodes(response)).toEqual(['NOT_FOUND']);
    });

    it('lets only the sender edit or delete, and never edit a deleted message', async () => {
      const chat = await newChat();
      const message = await post(alice, chat.id, 'draft');
      expect(errorCodes(await graphql(url, bob, EDIT, { id: message.id, content: 'mine now' }))).toEqual(['FORBIDDEN']);
      expect(errorCodes(await graphql(url, bob, DELETE, { id: message.id }))).toEqual(['FORBIDDEN']);
      const edited = (await ok(url, alice, EDIT, { id: message.id, content: 'final' })).updateMessage;
      expect(edited).toMatchObject({ content: 'final', isEdited: true, seq: 1 });
      expect(edited.editedAt).not.toBeNull();
      const deleted = (await ok(url, alice, DELETE, { id: message.id })).deleteMessage;
      expect(deleted).toMatchObject({ id: message.id, chatId: chat.id });
      expect((await ok(url, alice, DELETE, { id: message.id })).deleteMessage).toEqual(deleted);
      expect(errorCodes(await graphql(url, alice, EDIT, { id: message.id, content: 'again' }))).toEqual(['CONFLICT']);
      const page = await ok(url, bob, PAGE, { chatId: chat.id });
      expect(page.messages.messages).toEqual([]);
      const { chat: read } = await ok(url, bob, 'query($id: ID!) { chat(id: $id) { lastMessage { id } } }', { id: chat.id });
      expect(read.lastMessage).toBeNull();
    });

    it('pages by seq: latest, afterSeq, beforeSeq, with hasMore in that direction', async () => {
      const chat = await newChat();
      for (let i = 1; i <= 7; i++) await post(alice, chat.id, `m${i}`);
      const seqs = (data: any) => data.messages.messages.map((m: { seq: number }) => m.seq);
      const latest = await ok(url, bob, PAGE, { chatId: chat.id, limit: 3 });
      expect([seqs(latest), latest.messages.hasMore]).toEqual([[5, 6, 7], true]);
      const after = await ok(url, bob, PAGE, { chatId: chat.id, afterSeq: 2, limit: 3 });
      expect([seqs(after), after.messages.hasMore]).toEqual([[3, 4, 5], true]);
      const tail = await ok(url, bob, PAGE, { chatId: chat.id, afterSeq: 5, limit: 3 });
      expect([seqs(tail), tail.messages.hasMore]).toEqual([[6, 7], false]);
      const before = await ok(url, bob, PAGE, { chatId: chat.id, beforeSeq: 3, limit: 5 });
      expect([seqs(before), before.messages.hasMore]).toEqual([[1, 2], false]);
      for (const limit of [0, 201]) {
        expect(errorCodes(await graphql(url, bob, PAGE, { chatId: chat.id, limit }))).toEqual(['BAD_USER_INPUT']);
      }
    });
  });

  describe('read marks and receipts', () => {
    it('records a receipt once, never moves the mark back, and counts unread messages from others', async () => {
      const chat = await newChat();
      const m1 = await post(alice, chat.id, 'one');
      const m2 = await post(alice, chat.id, 'two');
      await post(bob, chat.id, 'own messages are never unread');
      const m4 = await post(alice, chat.id, 'four');
      const unread = async () => (await ok(url, bob, 'query($id: ID!) { chat(id: $id) { unreadCount } }', { id: chat.id })).chat.unreadCount;
      // bob's own post moved his mark to seq 3, so only m4 is unread (counts lag by the projection delay)
      await eventually(async () => expect(await unread()).toBe(1));

      const first = (await ok(url, bob, MARK, { id: m4.id })).markMessageAsRead;
      expect(first).toMatchObject({ messageId: m4.id, chatId: chat.id, userId: 'bob' });
      const again = (await ok(url, bob, MARK, { id: m4.id })).markMessageAsRead;
      expect(again).toEqual(first);
      await eventually(async () => expect(await unread()).toBe(0));

      const before = await countRows();
      const older = (await ok(url, bob, MARK, { id: m2.id })).markMessageAsRead;
      expect(older.messageId).toBe(m2.id);
      expect(await countRows()).toEqual(before);

      const receipts = (await ok(url, alice, 'query($id: ID!) { messageReads(messageId: $id) { userId readAt } }', { id: m4.id })).messageReads;
      expect(receipts).toEqual([{ userId: 'bob', readAt: first.readAt }]);
      expect((await ok(url, alice, 'query($id: ID!) { messageReads(messageId: $id) { userId } }', { id: m1.id })).messageReads).toEqual([]);
      expect(errorCodes(await graphql(url, mallory, MARK, { id: m1.id }))).toEqual(['FORBIDDEN']);
      expect(errorCodes(await graphql(url, mallory, 'query($id: ID!) { messageReads(messageId: $id) { userId } }', { id: m1.id }))).toEqual(['FORBIDDEN']);

      // alice's own post at seq 4 passed bob's seq 3; a new post from bob is her one unread message
      const countsOf = async () =>
        (await ok(url, alice, '{ unreadCounts { chatId userId unreadCount cursor } }')).unreadCounts.find(
          (count: { chatId: string }) => count.chatId === chat.id,
        );
      await eventually(async () => expect(await countsOf()).toMatchObject({ userId: 'alice', unreadCount: 0 }));
      const m5 = await post(bob, chat.id, 'five');
      await eventually(async () => expect(await countsOf()).toMatchObject({ userId: 'alice', unreadCount: 1, cursor: m5.cursor }));
      const deleted = (await ok(url, bob, DELETE, { id: m5.id })).deleteMessage;
      await eventually(async () => expect(await countsOf()).toMatchObject({ unreadCount: 0, cursor: deleted.cursor }));
    });
  });

  describe('head', () => {
    it('moves past every answered mutation', async () => {
      const chat = await newChat();
      const before = (await ok(url, alice, '{ head }')).head;
      const message = await post(alice, chat.id, 'tick');
      const after = (await ok(url, alice, '{ head }')).head;
      expect(after).not.toBe(before);
      expect(after).toBe(message.cursor);
    });
  });

  describe('limits', () => {
    it('refuses a body over the size limit with 413 and a clear error', async () => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` },
        body: JSON.stringify({ query: '{ me }', variables: { padding: 'x'.repeat(200 * 1024) } }),
      });
      expect(response.status).toBe(413);
      expect((await response.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    });

    it('answers a variable of the wrong type and a malformed body with BAD_USER_INPUT, not an internal error', async () => {
      const wrongType = await graphql(url, alice, 'query($l: Int) { messages(chatId: "x", limit: $l) { hasMore } }', { l: 'abc' });
      expect(errorCodes(wrongType)).toEqual(['BAD_USER_INPUT']);
      const malformed = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` }, body: '{"query": ' });
      expect(malformed.status).toBeGreaterThanOrEqual(400);
      expect(malformed.status).toBeLessThan(500);
    });

    it('refuses a query deeper than MAX_QUERY_DEPTH and runs one within it', async () => {
      // The contract's types nest three levels at most, so the limit is lowered to see it act.
      const shallow = await startTestServer(database.url, { MAX_QUERY_DEPTH: '2', MIGRATE_ON_START: 'false' });
      try {
        const tooDeep = await graphql(shallow.url, alice, '{ chats { lastMessage { id } } }');
        expect(tooDeep.errors?.[0]?.message).toMatch(/depth/i);
        expect(errorCodes(tooDeep)).toEqual(['BAD_USER_INPUT']);
        expect(tooDeep.data ?? null).toBeNull();
        expect((await graphql(shallow.url, alice, '{ chats { id } }')).errors).toBeUndefined();
      } finally {
        await shallow.stop();
      }
    });
  });
});
