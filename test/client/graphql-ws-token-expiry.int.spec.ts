import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const MESSAGE_ADDED = 'subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { seq content cursor } }';
const POST = 'mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { seq } }';

/**
 * DESIGN.md §5: a token that expires on an open socket closes it with 4403, which graphql-ws retries
 * with its default settings, asking a `connectionParams` function for a fresh token. Plain graphql-ws
 * sends its first variables again, so repeats are allowed here: the test asserts that the
 * subscription goes on, not that it is exactly once.
 */
describe('plain graphql-ws client (default retries) across a token expiry', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let client: Client | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
  });

  afterEach(async () => {
    await client?.dispose();
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  it('is closed with 4403, reconnects with a fresh token from connectionParams, and keeps receiving', async () => {
    const alice = await tokenFor('alice');
    const chatId = (await ok(server.url, alice, 'mutation { createChat(input: { name: "expiry", participantIds: ["bob"] }) { id } }')).createChat.id as string;
    const head = (await ok(server.url, alice, '{ head }')).head as string;
    const tokens: string[] = [];
    const closes: number[] = [];
    client = createClient({
      url: server.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      // The first token lives about 2 s; every later one an hour.
      connectionParams: async () => {
        const token = await tokenFor('bob', tokens.length === 0 ? '2s' : '1h');
        tokens.push(token);
        return { authorization: `Bearer ${token}` };
      },
      on: { closed: (event) => void closes.push((event as { code: number }).code) },
    });
    const received: string[] = [];
    const errors: unknown[] = [];
    client.subscribe<{ messageAdded: { content: string } }>(
      { query: MESSAGE_ADDED, variables: { chatId, after: head } },
      { next: ({ data }) => void received.push(data!.messageAdded.content), error: (error) => void errors.push(error), complete: () => undefined },
    );
    await ok(server.url, alice, POST, { chatId, content: 'before the expiry' });
    await eventually(() => expect(received).toEqual(['before the expiry']));

    await eventually(() => expect(closes).toEqual([4403]), 10_000);
    // A fresh token for the next connection; the default retry waits 1.3 to 4 s before it.
    await eventually(() => expect(tokens).toHaveLength(2), 10_000);
    await ok(server.url, alice, POST, { chatId, content: 'after the expiry' });
    await eventually(() => expect(received).toContain('after the expiry'), 15_000);
    expect(received[0]).toBe('before the expiry');
    expect(tokens[1]).not.toBe(tokens[0]);
    expect(errors).toEqual([]);
  });
});
