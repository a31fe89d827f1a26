import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { errorCodes, graphql, ok, type GraphQLResponse } from '../support/graphql-http';
import { HUGE_GRAPHEME } from '../support/huge-grapheme';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const NUL = 'a\u0000b';
const LONE_SURROGATE = 'a\ud800b';
/** One character of 1201 bytes: over a chat name's 1 KiB. */
const HEAVY_NAME = 'a' + '\u0301'.repeat(600);

const POST = `mutation($chatId: ID!, $content: String!, $clientMessageId: String) {
  createMessage(createMessageInput: { chatId: $chatId, content: $content, clientMessageId: $clientMessageId }) { id }
}`;
const CREATE_CHAT = 'mutation($name: String!, $ids: [ID!]!) { createChat(input: { name: $name, participantIds: $ids }) { id } }';
const UPDATE_CHAT = 'mutation($input: UpdateChatInput!) { updateChat(input: $input) { id } }';
const EDIT = 'mutation($id: ID!, $content: String!) { updateMessage(messageId: $id, content: $content) { id } }';

interface BadOperation {
  query: string;
  variables: Record<string, unknown>;
}

/**
 * DESIGN.md §5: no NUL and no unpaired surrogate anywhere in a string argument. PostgreSQL cannot store
 * them; they must come back as BAD_USER_INPUT and change nothing, never as an internal error, over
 * HTTP and WebSocket alike, whether they come in a variable (however nested) or in a literal.
 * Ids and names are bounded in bytes as well as characters: one character can be 12 kB, more than an
 * index row holds.
 */
describe('string arguments PostgreSQL cannot store, content over 16 KiB, and ids and names over their bytes', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let alice: string;
  let chatId: string;
  let messageId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    alice = await tokenFor('alice');
    chatId = (await ok(server.url, alice, CREATE_CHAT, { name: 'team', ids: ['bob'] })).createChat.id;
    messageId = (await ok(server.url, alice, POST, { chatId, content: 'hello' })).createMessage.id;
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  // Derived rows of the unread-counts projection (no event_position) come and go on their own.
  const countRows = () =>
    withClient(database.url, async (client) => {
      const { rows } = await client.query(
        `select (select count(*)::int from events) as events, (select count(*)::int from outbox where event_position is not null) as outbox,
                (select count(*)::int from messages) as messages, (select count(*)::int from chats) as chats`,
      );
      return rows[0];
    });

  /** Each kind of string argument of the API, with `text` in it. */
  function badOperations(text: string): [string, () => BadOperation][] {
    return [
      ['createMessage content', () => ({ query: POST, variables: { chatId, content: text } })],
      ['createMessage clientMessageId', () => ({ query: POST, variables: { chatId, content: 'fine', clientMessageId: text } })],
      ['createChat name', () => ({ query: CREATE_CHAT, variables: { name: text, ids: ['bob'] } })],
      ['createChat participant id', () => ({ query: CREATE_CHAT, variables: { name: 'fine', ids: ['bob', text] } })],
      ['updateChat name in a nested input', () => ({ query: UPDATE_CHAT, variables: { input: { chatId, name: text } } })],
      ['updateChat participant id in a nested list', () => ({ query: UPDATE_CHAT, variables: { input: { chatId, addParticipantIds: ['carol', text] } } })],
      ['updateMessage content', () => ({ query: EDIT, variables: { id: messageId, content: text } })],
      ['updateMessage messageId', () => ({ query: EDIT, variables: { id: text, content: 'fine' } })],
      ['chat(id:)', () => ({ query: 'query($id: ID!) { chat(id: $id) { id } }', variables: { id: text } })],
      ['messages(chatId:)', () => ({ query: 'query($id: ID!) { messages(chatId: $id) { hasMore } }', variables: { id: text } })],
      ['deleteMessage messageId', () => ({ query: 'mutation($id: ID!) { deleteMessage(messageId: $id) { id } }', variables: { id: text } })],
    ];
  }

  /** A NUL written in the query itself, as a GraphQL escape (the lexer already refuses lone surrogates there). */
  const literalOperations: [string, () => BadOperation][] = [
    ['content literal in a nested input', () => ({ query: `mutation { createMessage(createMessageInput: { chatId: "${chatId}", content: "a\\u0000b" }) { id } }`, variables: {} })],
    ['participant id literal in a list', () => ({ query: 'mutation { createChat(input: { name: "fine", participantIds: ["bob", "a\\u0000b"] }) { id } }', variables: {} })],
    ['chat(id:) literal', () => ({ query: 'query { chat(id: "a\\u0000b") { id } }', variables: {} })],
    ['a variable default', () => ({ query: 'query($id: ID! = "a\\u0000b") { chat(id: $id) { id } }', variables: {} })],
  ];

  /** One character by count, but more bytes than its field may hold (DESIGN.md §5): refused before any database work. */
  const oversizedOperations: [string, () => BadOperation][] = [
    ['a 12 kB grapheme as clientMessageId', () => ({ query: POST, variables: { chatId, content: 'fine', clientMessageId: HUGE_GRAPHEME } })],
    // PostgreSQL compresses this one into its index and would store it: only the byte limit refuses it.
    ['a 12 kB grapheme of one repeated mark as clientMessageId', () => ({ query: POST, variables: { chatId, content: 'fine', clientMessageId: 'a' + '\u0301'.repeat(6000) } })],
    ['a 12 kB grapheme as a participant id of a new chat', () => ({ query: CREATE_CHAT, variables: { name: 'fine', ids: ['bob', HUGE_GRAPHEME] } })],
    ['a 12 kB grapheme as a participant id to add', () => ({ query: UPDATE_CHAT, variables: { input: { chatId, addParticipantIds: ['carol', HUGE_GRAPHEME] } } })],
    ['a 12 kB grapheme as a participant id to remove', () => ({ query: UPDATE_CHAT, variables: { input: { chatId, removeParticipantIds: [HUGE_GRAPHEME] } } })],
    ['a chat name of one character over 1 KiB', () => ({ query: CREATE_CHAT, variables: { name: HEAVY_NAME, ids: ['bob'] } })],
    ['a new chat name of one character over 1 KiB', () => ({ query: UPDATE_CHAT, variables: { input: { chatId, name: HEAVY_NAME } } })],
  ];

  /** Chat and message ids are uuids: any other string, however long, names nothing and never reaches PostgreSQL. */
  const unknownIdOperations: [string, () => BadOperation][] = [
    ['chat(id:)', () => ({ query: 'query($id: ID!) { chat(id: $id) { id } }', variables: { id: HUGE_GRAPHEME } })],
    ['messages(chatId:)', () => ({ query: 'query($id: ID!) { messages(chatId: $id) { hasMore } }', variables: { id: HUGE_GRAPHEME } })],
    ['createMessage chatId', () => ({ query: POST, variables: { chatId: HUGE_GRAPHEME, content: 'fine', clientMessageId: 'c-1' } })],
    ['updateChat chatId', () => ({ query: UPDATE_CHAT, variables: { input: { chatId: HUGE_GRAPHEME, name: 'fine' } } })],
    ['updateMessage messageId', () => ({ query: EDIT, variables: { id: HUGE_GRAPHEME, content: 'fine' } })],
    ['deleteMessage messageId', () => ({ query: 'mutation($id: ID!) { deleteMessage(messageId: $id) { id } }', variables: { id: HUGE_GRAPHEME } })],
    ['markMessageAsRead messageId', () => ({ query: 'mutation($id: ID!) { markMessageAsRead(messageId: $id) { readAt } }', variables: { id: HUGE_GRAPHEME } })],
    ['messageReads(messageId:)', () => ({ query: 'query($id: ID!) { messageReads(messageId: $id) { userId } }', variables: { id: HUGE_GRAPHEME } })],
  ];

  const cases = [
    ...badOperations(NUL).map(([name, operation]) => [`NUL in ${name}`, operation] as const),
    ...badOperations(LONE_SURROGATE).map(([name, operation]) => [`a lone surrogate in ${name}`, operation] as const),
    ...literalOperations.map(([name, operation]) => [`NUL in ${name}`, operation] as const),
    ...oversizedOperations,
  ];

  describe('over HTTP', () => {
    it.each(cases)('answers %s with BAD_USER_INPUT and writes nothing', async (_, operation) => {
      const { query, variables } = operation();
      const before = await countRows();
      const response = await graphql(server.url, alice, query, variables);
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.data ?? null).toBeNull();
      expect(await countRows()).toEqual(before);
    });

    it.each(unknownIdOperations)('answers a 12 kB %s with NOT_FOUND and writes nothing', async (_, operation) => {
      const { query, variables } = operation();
      const before = await countRows();
      const response = await graphql(server.url, alice, query, variables);
      expect(errorCodes(response)).toEqual(['NOT_FOUND']);
      expect(await countRows()).toEqual(before);
    });

    it('accepts ids of 128 characters and 512 bytes, and refuses 513 bytes', async () => {
      // 😀 is one character of 4 bytes.
      const widest = '😀'.repeat(128);
      const { createChat } = await ok(server.url, alice, CREATE_CHAT, { name: 'widest ids', ids: [widest] });
      const posted = await ok(server.url, alice, POST, { chatId: createChat.id, content: 'fine', clientMessageId: widest });
      expect(posted.createMessage.id).toEqual(expect.any(String));
      const over = await graphql(server.url, alice, POST, { chatId: createChat.id, content: 'fine', clientMessageId: `${'😀'.repeat(127)}e\u0301\u0301` });
      expect(errorCodes(over)).toEqual(['BAD_USER_INPUT']);
    });

    it('names the variable or argument that holds it', async () => {
      const variable = await graphql(server.url, alice, UPDATE_CHAT, { input: { chatId, addParticipantIds: ['carol', NUL] } });
      expect(variable.errors?.[0]?.message).toBe('variable $input.addParticipantIds[1] must not contain NUL characters or unpaired surrogates');
      const [, literal] = literalOperations[0]!;
      const literalResponse = await graphql(server.url, alice, literal().query);
      expect(literalResponse.errors?.[0]?.message).toBe('argument createMessageInput.content must not contain NUL characters or unpaired surrogates');
    });

    it('answers content of 4000 characters but more than 16 KiB of UTF-8 with BAD_USER_INPUT and writes nothing', async () => {
      const before = await countRows();
      // 👍🏽 is one character of 8 bytes: 4000 of them are 32000 bytes.
      const response = await graphql(server.url, alice, POST, { chatId, content: '👍🏽'.repeat(4000) });
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.message).toMatch(/16384 bytes/);
      expect(await countRows()).toEqual(before);
      const edit = await graphql(server.url, alice, EDIT, { id: messageId, content: '👍🏽'.repeat(4000) });
      expect(errorCodes(edit)).toEqual(['BAD_USER_INPUT']);
      expect(await countRows()).toEqual(before);
    });

    it('accepts content of exactly 16 KiB of UTF-8', async () => {
      const content = '👍🏽'.repeat(2048);
      const { createMessage } = await ok(server.url, alice, `${POST.replace('{ id }', '{ id content }')}`, { chatId, content });
      expect(createMessage.content).toBe(content);
    });

    it('keeps emoji and other surrogate pairs', async () => {
      const content = 'ok 😀 𝄞';
      const { createMessage } = await ok(server.url, alice, `${POST.replace('{ id }', '{ id content }')}`, { chatId, content });
      expect(createMessage.content).toBe(content);
    });
  });

  describe('over WebSocket', () => {
    let client: Client;

    beforeAll(() => {
      client = connectClient(server.url, alice);
    });

    afterAll(async () => {
      await client.dispose();
    });

    const errorsOf = async (query: string, variables: Record<string, unknown>) =>
      (await subscribe(client, query, variables).error()) as GraphQLResponse['errors'];

    it.each(cases)('answers %s with BAD_USER_INPUT and writes nothing', async (_, operation) => {
      const { query, variables } = operation();
      const before = await countRows();
      const errors = await errorsOf(query, variables);
      expect(errors?.map((error) => error.extensions?.code)).toEqual(['BAD_USER_INPUT']);
      expect(await countRows()).toEqual(before);
    });

    it.each(unknownIdOperations)('answers a 12 kB %s with NOT_FOUND and writes nothing', async (_, operation) => {
      const { query, variables } = operation();
      const before = await countRows();
      const errors = await errorsOf(query, variables);
      expect(errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
      expect(await countRows()).toEqual(before);
    });

    it('answers a subscription to a 12 kB chatId with NOT_FOUND, and the socket stays usable', async () => {
      const errors = await errorsOf('subscription($c: ID!) { messageAdded(chatId: $c) { id } }', { c: HUGE_GRAPHEME });
      expect(errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
      const again = subscribe(client, 'query { me }');
      expect(await again.count(1)).toEqual(['alice']);
    });

    it.each([
      ['NUL', NUL],
      ['a lone surrogate', LONE_SURROGATE],
    ])('answers a subscription whose chatId holds %s with BAD_USER_INPUT, and the socket stays usable', async (_, text) => {
      const errors = await errorsOf('subscription($c: ID!) { messageAdded(chatId: $c) { id } }', { c: text });
      expect(errors?.map((error) => error.extensions?.code)).toEqual(['BAD_USER_INPUT']);
      const literal = await errorsOf('subscription { messageUpdated(chatId: "a\\u0000b") { id } }', {});
      expect(literal?.map((error) => error.extensions?.code)).toEqual(['BAD_USER_INPUT']);
      const again = subscribe(client, 'query { me }');
      expect(await again.count(1)).toEqual(['alice']);
    });
  });
});
