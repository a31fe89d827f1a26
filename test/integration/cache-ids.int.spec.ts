import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const CREATE_CHAT = `mutation($name: String!, $ids: [ID!]!) { createChat(input: { name: $name, participantIds: $ids }) { id } }`;
const POST = `mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { id } }`;

/**
 * A normalized client cache (Apollo's) merges objects by `id`. An unread count and a read receipt
 * must therefore carry one id per (chat, user) and (message, reader), the same over HTTP and over the
 * socket, so that a live update replaces what a query loaded.
 */
describe('ids of unread counts and read receipts', () => {
  let database: TestDatabase;
  let server: RunningServer;
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    for (const user of ['alice', 'bob']) tokens[user] = await tokenFor(user);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await server.stop();
    await database.drop();
  });

  const query = async (user: string, text: string, variables?: Record<string, unknown>) => ok(server.url, tokens[user]!, text, variables);

  it('gives each (chat, user) count and each (message, reader) receipt one id, the same over HTTP and the socket', async () => {
    const chatId = (await query('alice', CREATE_CHAT, { name: 'ids', ids: ['bob'] })).createChat.id as string;
    const from = (await query('bob', '{ head }')).head as string;
    const bob = connectClient(server.url, tokens.bob!);
    clients.push(bob);
    const counts = subscribe(bob, `subscription($after: String) { unreadCountUpdated(after: $after) { id chatId userId unreadCount } }`, { after: from });
    const receipts = subscribe(bob, `subscription($chatId: ID!, $after: String) { messageReadUpdated(chatId: $chatId, after: $after) { id messageId userId } }`, { chatId, after: from });

    const messageId = (await query('alice', POST, { chatId, content: 'hello' })).createMessage.id as string;
    const [liveCount] = await counts.count(1);
    const bobsCounts = (await query('bob', '{ unreadCounts { id chatId userId unreadCount } }')).unreadCounts;
    const alicesCounts = (await query('alice', '{ unreadCounts { id chatId userId unreadCount } }')).unreadCounts;
    expect(bobsCounts).toEqual([{ id: liveCount.id, chatId, userId: 'bob', unreadCount: 1 }]);
    expect(alicesCounts).toEqual([{ id: expect.any(String), chatId, userId: 'alice', unreadCount: 0 }]);
    expect(alicesCounts[0].id).not.toBe(liveCount.id);

    const receipt = (await query('bob', `mutation($id: ID!) { markMessageAsRead(messageId: $id) { id messageId userId } }`, { id: messageId })).markMessageAsRead;
    const [liveReceipt] = await receipts.count(1);
    const listed = (await query('alice', `query($id: ID!) { messageReads(messageId: $id) { id userId } }`, { id: messageId })).messageReads;
    expect(liveReceipt).toEqual(receipt);
    expect(listed).toEqual([{ id: receipt.id, userId: 'bob' }]);
    expect(receipt.id).not.toBe(liveCount.id);
    expect((await counts.count(2))[1]).toEqual({ id: liveCount.id, chatId, userId: 'bob', unreadCount: 0 });
  });
});
