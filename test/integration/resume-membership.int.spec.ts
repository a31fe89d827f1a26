import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const MESSAGE_ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { content seq } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id cursor } }';
const UPDATE = 'mutation($i: UpdateChatInput!) { updateChat(input: $i) { id } }';

/**
 * DESIGN.md §4 "Resume without gaps": a resume sends what the viewer may see now. A current
 * participant's chat subscription skips the stretches during which they were not a participant
 * instead of failing; someone who is not a participant now is refused.
 */
describe('resuming a chat subscription across membership changes', () => {
  let database: TestDatabase;
  let server: RunningServer;
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    for (const user of ['alice', 'bob', 'carol']) tokens[user] = await tokenFor(user);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.dispose()));
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  const client = (user: string) => {
    const created = connectClient(server.url, tokens[user]!);
    clients.push(created);
    return created;
  };
  const head = async () => (await ok(server.url, tokens.alice!, '{ head }')).head as string;
  const post = (chatId: string, content: string) => ok(server.url, tokens.alice!, POST, { c: chatId, t: content });
  const update = (input: Record<string, unknown>) => ok(server.url, tokens.alice!, UPDATE, { i: input });
  const newChat = async (participantIds: string[]) =>
    (await ok(server.url, tokens.alice!, 'mutation($p: [ID!]!) { createChat(input: { name: "m", participantIds: $p }) { id } }', { p: participantIds }))
      .createChat.id as string;

  it('skips what was posted while the viewer was removed, and goes on live after the re-add', async () => {
    // Given bob's cursor from before he was removed and re-added
    const chatId = await newChat(['bob']);
    const cursor = await head();
    await post(chatId, 'before removal');
    await update({ chatId, removeParticipantIds: ['bob'] });
    await post(chatId, 'while bob was out');
    await update({ chatId, addParticipantIds: ['bob'] });
    await post(chatId, 'after re-add');

    // When bob resumes from that cursor
    const resumed = subscribe(client('bob'), MESSAGE_ADDED, { c: chatId, a: cursor });
    await resumed.count(2);
    await post(chatId, 'live');

    // Then he gets his stretches of the chat, in order, and no error
    const received = await resumed.count(3);
    expect(received.map((m) => m.content)).toEqual(['before removal', 'after re-add', 'live']);
    expect(resumed.errors).toEqual([]);
  });

  it('skips what came before a participant first joined, from a cursor taken then', async () => {
    const chatId = await newChat(['bob']);
    const cursor = await head();
    await post(chatId, 'before carol');
    await update({ chatId, addParticipantIds: ['carol'] });
    await post(chatId, 'for carol too');

    const resumed = subscribe(client('carol'), MESSAGE_ADDED, { c: chatId, a: cursor });
    await post(chatId, 'live');
    const received = await resumed.count(2);
    expect(received.map((m) => m.content)).toEqual(['for carol too', 'live']);
  });

  it('refuses a resume from someone who is not a participant now, even with an old cursor', async () => {
    const chatId = await newChat(['bob']);
    const cursor = await head();
    await post(chatId, 'seen');
    await update({ chatId, removeParticipantIds: ['bob'] });

    const refused = subscribe(client('bob'), MESSAGE_ADDED, { c: chatId, a: cursor });
    expect(await refused.error()).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);
    expect(refused.items).toEqual([]);
  });
});
