import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { asTheOnlyPruner, pruneOutbox } from '../../src/infrastructure/relay/outbox-prune';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const DAY = 86_400_000;
const MESSAGE_ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { content cursor } }';
const READS = 'subscription($c: ID!, $a: String) { messageReadUpdated(chatId: $c, after: $a) { messageId cursor } }';
const NOTIFICATIONS = 'subscription($a: String) { chatMessageNotification(after: $a) { message { content } cursor } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { cursor } }';
const CREATE = 'mutation($p: [ID!]!) { createChat(input: { name: "c", participantIds: $p }) { id } }';
const ADD = 'mutation($c: ID!, $p: [ID!]!) { updateChat(input: { chatId: $c, addParticipantIds: $p }) { id } }';
const CHAT_ADDED = 'subscription($a: String) { chatAdded(after: $a) { id cursor } }';
const CHAT_UPDATED = 'subscription($a: String) { chatUpdated(after: $a) { id cursor } }';

/**
 * DESIGN.md §4: a resume gets CURSOR_EXPIRED only when rows after its cursor that it would have received
 * were pruned; a quiet chat's old cursor, a cursor whose following rows are all still there, and `head`
 * resume as before. One ordering partition, so that every chat's cursor lies before the pruned range.
 */
describe('resuming after the outbox was pruned', () => {
  let database: TestDatabase;
  let server: RunningServer;
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];
  let busy: string;
  let quiet: string;
  /** Taken before busy's pruned posts; quiet's last message is older still. */
  let beforePruned: string;
  let quietLast: string;
  let busySecond: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url, { RELAY_PARTITIONS: '1' });
    for (const user of ['alice', 'bob', 'carol', 'dave']) tokens[user] = await tokenFor(user);
    quiet = (await ok(server.url, tokens.alice!, CREATE, { p: ['bob', 'carol'] })).createChat.id;
    quietLast = (await post(quiet, 'quiet 1')).cursor;
    busy = (await ok(server.url, tokens.alice!, CREATE, { p: ['bob'] })).createChat.id;
    beforePruned = await head();
    await post(busy, 'busy 1');
    // dave joins busy in the range that is pruned: chatAdded for him, chatUpdated for alice and bob.
    await ok(server.url, tokens.alice!, ADD, { c: busy, p: ['dave'] });
    busySecond = (await post(busy, 'busy 2')).cursor;
    await post(busy, 'busy 3');
    await server.realtime.whenCaughtUp();
    // Everything so far is 40 days old; a 30-day retention prunes all but each chat's newest row.
    await withClient(database.url, (client) => client.query(`update outbox set created_at = now() - interval '40 days'`));
    const summary = await asTheOnlyPruner(server.database.orm, database.url, { connectTimeoutMs: 5000, statementTimeoutMs: null }, (query) =>
      pruneOutbox(query, { retentionMs: 30 * DAY, now: new Date() }),
    );
    expect(summary!.deleted).toBe(5);
    await post(busy, 'busy 4');
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.dispose()));
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  async function head(): Promise<string> {
    return (await ok(server.url, tokens.alice!, '{ head }')).head as string;
  }
  function post(chatId: string, content: string): Promise<{ cursor: string }> {
    return ok(server.url, tokens.alice!, POST, { c: chatId, t: content }).then((data) => data.createMessage);
  }
  function client(user: string): Client {
    const created = connectClient(server.url, tokens[user]!);
    clients.push(created);
    return created;
  }
  const codes = (errors: unknown) => (errors as { extensions?: { code?: string } }[]).map((error) => error.extensions?.code);

  it('answers CURSOR_EXPIRED to a chat resume whose following posts were pruned, and sends nothing', async () => {
    const resumed = subscribe(client('bob'), MESSAGE_ADDED, { c: busy, a: beforePruned });
    expect(codes(await resumed.error())).toEqual(['CURSOR_EXPIRED']);
    expect(resumed.items).toEqual([]);
  });

  it('resumes a cursor whose following rows are all still there', async () => {
    // busy 3 was kept as the chat's newest row when it was pruned; busy 4 came later.
    const resumed = subscribe(client('bob'), MESSAGE_ADDED, { c: busy, a: busySecond });
    expect((await resumed.count(2)).map((m) => m.content)).toEqual(['busy 3', 'busy 4']);
    expect(resumed.errors).toEqual([]);
  });

  it('resumes a quiet chat’s old cursor, though rows after it in its partition were pruned', async () => {
    const resumed = subscribe(client('bob'), MESSAGE_ADDED, { c: quiet, a: quietLast });
    await post(quiet, 'quiet 2');
    expect((await resumed.count(1)).map((m) => m.content)).toEqual(['quiet 2']);
    expect(resumed.errors).toEqual([]);
  });

  it('resumes from head, and so never loops after a reload', async () => {
    const resumed = subscribe(client('bob'), MESSAGE_ADDED, { c: busy, a: await head() });
    await post(busy, 'after head');
    expect((await resumed.count(1)).map((m) => m.content)).toEqual(['after head']);
    expect(resumed.errors).toEqual([]);
  });

  it('resumes a subscription of a kind none of whose rows were pruned (read receipts)', async () => {
    const resumed = subscribe(client('bob'), READS, { c: busy, a: beforePruned });
    const message = await ok(server.url, tokens.alice!, 'query($c: ID!) { messages(chatId: $c, limit: 1) { messages { id } } }', { c: busy });
    await ok(server.url, tokens.bob!, 'mutation($m: ID!) { markMessageAsRead(messageId: $m) { cursor } }', { m: message.messages.messages[0].id });
    expect(await resumed.count(1)).toHaveLength(1);
    expect(resumed.errors).toEqual([]);
  });

  it('answers CURSOR_EXPIRED to a user-scoped resume when a chat of the viewer lost rows it would have sent', async () => {
    const resumed = subscribe(client('bob'), NOTIFICATIONS, { a: beforePruned });
    expect(codes(await resumed.error())).toEqual(['CURSOR_EXPIRED']);
  });

  it('resumes a user-scoped cursor of a viewer whose chats lost nothing after it', async () => {
    // carol is only in the quiet chat.
    const resumed = subscribe(client('carol'), NOTIFICATIONS, { a: beforePruned });
    await post(quiet, 'for carol');
    await resumed.until(() => resumed.items.some((n) => n.message.content === 'for carol'), 15_000, 'the live post');
    expect(resumed.errors).toEqual([]);
  });

  it('answers CURSOR_EXPIRED for an addition only on the kind its viewer would have heard: chatAdded to the one added, chatUpdated to the others', async () => {
    expect(codes(await subscribe(client('dave'), CHAT_ADDED, { a: beforePruned }).error())).toEqual(['CURSOR_EXPIRED']);
    expect(codes(await subscribe(client('bob'), CHAT_UPDATED, { a: beforePruned }).error())).toEqual(['CURSOR_EXPIRED']);

    // bob's chatAdded lost nothing: dave's addition was never his to hear on it, and his next chat arrives
    const resumed = subscribe(client('bob'), CHAT_ADDED, { a: beforePruned });
    const next = (await ok(server.url, tokens.alice!, CREATE, { p: ['bob'] })).createChat.id;
    await resumed.until(() => resumed.items.some((chat) => chat.id === next), 15_000, 'the new chat');
    expect(resumed.errors).toEqual([]);
  });
});
