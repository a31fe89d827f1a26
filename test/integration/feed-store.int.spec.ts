import { randomUUID } from 'node:crypto';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { openDatabase, type Database } from '../../src/infrastructure/persistence/database';
import { FeedStore } from '../../src/infrastructure/receiver/feed-store';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const CREATE_CHAT = `mutation($name: String!, $ids: [ID!]!) { createChat(input: { name: $name, participantIds: $ids }) { id cursor } }`;
const UPDATE_CHAT = 'mutation($input: UpdateChatInput!) { updateChat(input: $input) { id cursor } }';
const POST = `mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { cursor } }`;

/**
 * Where a receiver starts following a chat, read from PostgreSQL in one snapshot: the chat's newest
 * row, which of the receiver's users are in it, and whom its membership rows after a given position
 * name (a user added and removed again since is owed the rows in between, though no longer a participant).
 */
describe('FeedStore.startingPoints', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let db: Database;
  let store: FeedStore;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    db = await openDatabase({ databaseUrl: database.url, dataDir: '/tmp/unused', poolMax: 2 });
    store = new FeedStore(db.orm);
  });

  afterAll(async () => {
    await db.close();
    await server.stop();
    await database.drop();
  });

  const as = async (user: string, query: string, variables: Record<string, unknown>) => ok(server.url, await tokenFor(user), query, variables);

  it('answers the newest row, the users in the chat now, and whom the membership rows after a position name', async () => {
    // Given a chat of alice and bob, then erin added, a post, and erin removed again
    const created = (await as('alice', CREATE_CHAT, { name: 'window', ids: ['bob'] })).createChat;
    await as('alice', UPDATE_CHAT, { input: { chatId: created.id, addParticipantIds: ['erin'] } });
    await as('bob', POST, { chatId: created.id, content: 'while erin is in' });
    const removed = (await as('alice', UPDATE_CHAT, { input: { chatId: created.id, removeParticipantIds: ['erin'] } })).updateChat;
    const quiet = randomUUID();
    const other = (await as('carol', CREATE_CHAT, { name: 'other', ids: [] })).createChat;

    // When a receiver with erin, bob and zed starts following them, having handled the membership rows
    // of the first chat up to its creation, and of the other chat up to its newest row
    const starts = await store.startingPoints(
      [created.id, quiet, other.id],
      ['erin', 'bob', 'zed'],
      new Map([[created.id, created.cursor as string], [other.id, other.cursor as string]]),
    );

    // Then the first chat starts at the removal, with bob alone of those users, and its membership rows
    // since its creation name erin (added, then removed) beside its participants
    const first = starts.get(created.id)!;
    expect(first.lastRow).toBe(removed.cursor);
    expect(first.users).toEqual(['bob']);
    expect(new Set(first.membershipUsers)).toEqual(new Set(['alice', 'bob', 'erin']));
    // And the other chat has nothing unhandled, and a chat without rows starts from nothing
    expect(starts.get(other.id)).toEqual({ lastRow: other.cursor, users: [], membershipUsers: [] });
    expect(starts.get(quiet)).toEqual({ lastRow: '0.0', users: [], membershipUsers: [] });

    // And without a position for it, nothing is looked up for a chat
    const plain = await store.startingPoints([created.id], ['erin']);
    expect(plain.get(created.id)).toEqual({ lastRow: removed.cursor, users: [], membershipUsers: [] });
  });
});
