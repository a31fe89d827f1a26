import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createResumingClient, ParleyClient, type ParleyError } from '../../client';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { asTheOnlyPruner, pruneOutbox } from '../../src/infrastructure/relay/outbox-prune';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const DAY = 86_400_000;
const POST = 'mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { cursor } }';
const MESSAGE_ADDED = 'subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { content cursor } }';

interface Message {
  content: string;
  cursor: string;
}

/**
 * The client library after CURSOR_EXPIRED (DESIGN.md §4): it reads the head, lets the application reload
 * its state, then subscribes after that head, so that what is posted while the application reloads
 * still arrives; without a reload hook the subscription ends with the error.
 */
describe('client library: reload, then subscribe from head, after CURSOR_EXPIRED', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let token: string;
  let chatId: string;
  /** A cursor of the chat before posts that were pruned. */
  let expired: string;
  const closers: (() => unknown)[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url, { RELAY_PARTITIONS: '1' });
    token = await tokenFor('alice');
    chatId = (await ok(server.url, token, 'mutation { createChat(input: { name: "c", participantIds: ["bob"] }) { id } }')).createChat.id;
    expired = (await ok(server.url, token, '{ head }')).head;
    for (const content of ['old 1', 'old 2', 'old 3']) await post(content);
    await server.realtime.whenCaughtUp();
    await withClient(database.url, (client) => client.query(`update outbox set created_at = now() - interval '40 days'`));
    await asTheOnlyPruner(server.database.orm, database.url, { connectTimeoutMs: 5000, statementTimeoutMs: null }, (query) =>
      pruneOutbox(query, { retentionMs: 30 * DAY, now: new Date() }),
    );
  });

  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  function post(content: string): Promise<{ cursor: string }> {
    return ok(server.url, token, POST, { chatId, content }).then((data) => data.createMessage);
  }

  function parleyClient(): ParleyClient {
    const client = new ParleyClient({ url: server.url, getToken: () => token, webSocketImpl: WebSocket });
    closers.push(() => client.close());
    return client;
  }

  it('ParleyClient: calls reload once, then delivers what came after the head it read before reloading', async () => {
    const received: Message[] = [];
    const errors: ParleyError[] = [];
    let reloads = 0;
    const live = new Promise<void>((resolve) => {
      parleyClient().subscribe<Message>(
        { query: MESSAGE_ADDED, variables: { chatId }, after: expired },
        {
          next: (message) => {
            received.push(message);
            if (message.content === 'after reload') resolve();
          },
          error: (error) => errors.push(error),
          // The application's queries run here; a post that lands meanwhile comes after the head read before.
          reload: async () => {
            reloads++;
            await post('during reload');
          },
        },
      );
    });
    await waitFor(() => reloads === 1);
    await post('after reload');
    await live;

    expect(reloads).toBe(1);
    expect(errors).toEqual([]);
    expect(received.map((message) => message.content)).toEqual(['during reload', 'after reload']);
  });

  it('ParleyClient: without a reload hook, ends the subscription with CURSOR_EXPIRED', async () => {
    const error = await new Promise<ParleyError>((resolve) => {
      parleyClient().subscribe<Message>({ query: MESSAGE_ADDED, variables: { chatId }, after: expired }, { next: () => undefined, error: resolve });
    });
    expect(error.code).toBe('CURSOR_EXPIRED');
  });

  it('createResumingClient: onCursorExpired reloads, then the subscription goes on from the head', async () => {
    let reloads = 0;
    const client: Client = createResumingClient({
      url: server.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      onCursorExpired: async () => {
        reloads++;
        await post('wrapped during reload');
      },
    });
    closers.push(() => client.dispose());
    const received: string[] = [];
    const errors: unknown[] = [];
    const live = new Promise<void>((resolve) => {
      client.subscribe<{ messageAdded: Message }>(
        { query: MESSAGE_ADDED, variables: { chatId, after: expired } },
        {
          next: (result) => {
            if (result.errors) errors.push(result.errors);
            const content = result.data?.messageAdded.content;
            if (content) received.push(content);
            if (content === 'wrapped after reload') resolve();
          },
          error: (error) => errors.push(error),
          complete: () => undefined,
        },
      );
    });
    await waitFor(() => reloads === 1);
    await post('wrapped after reload');
    await live;

    expect(reloads).toBe(1);
    expect(errors).toEqual([]);
    expect(received).toEqual(['wrapped during reload', 'wrapped after reload']);
  });
});

/** Resolves once `test` holds; checked on every turn of the event loop, which the client's work goes through. */
async function waitFor(test: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('waited too long');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
