import WebSocket from 'ws';
import { ParleyClient, type ParleyClientOptions, type ParleyError } from '../../client';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { UnavailableProxy } from '../support/unavailable-proxy';

const CREATE_CHAT = 'mutation($name: String!, $ids: [ID!]!) { createChat(input: { name: $name, participantIds: $ids }) { id } }';
const POST = `mutation($chatId: ID!, $content: String!, $cmid: String) {
  createMessage(createMessageInput: { chatId: $chatId, content: $content, clientMessageId: $cmid }) { id seq content }
}`;
const EDIT = 'mutation($id: ID!, $content: String!) { updateMessage(messageId: $id, content: $content) { id content isEdited } }';
const DELETE = 'mutation($id: ID!) { deleteMessage(messageId: $id) { id } }';
const MARK = 'mutation($id: ID!) { markMessageAsRead(messageId: $id) { messageId readAt } }';
const MESSAGE_ADDED = 'subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { id content cursor } }';

/**
 * The client library and UNAVAILABLE (DESIGN.md §5: a dependency of the server is down or past its
 * deadline; a write may or may not have been applied). Requests go through a proxy that answers 503
 * UNAVAILABLE for the requests a test chooses, sometimes after forwarding them (the write happened,
 * the answer was lost), and forwards the rest to a real server.
 */
describe('client library: retries of UNAVAILABLE, only for operations that are safe to repeat', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let proxy: UnavailableProxy;
  const clients: ParleyClient[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
  });

  beforeEach(async () => {
    proxy = await UnavailableProxy.start(server.url);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await proxy.stop();
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  /** A client whose HTTP requests go through the proxy; `waits` records every backoff it waits out. */
  function clientOf(user: string, overrides: Partial<ParleyClientOptions> = {}) {
    const waits: number[] = [];
    const client = new ParleyClient({
      url: proxy.url,
      wsUrl: server.url.replace(/^http/, 'ws'),
      getToken: () => tokenFor(user),
      webSocketImpl: WebSocket,
      keepAliveMs: 0,
      backoff: { initialMs: 50, maxMs: 400 },
      // The top of each jitter range, so the waits are known: 50, 100, 200, 400, 400 …
      random: () => 1,
      timers: {
        setTimeout: (callback, ms) => {
          waits.push(ms);
          return setTimeout(callback, ms);
        },
        clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
        now: () => Date.now(),
      },
      ...overrides,
    });
    clients.push(client);
    return { client, waits };
  }

  const newChat = async (name: string) =>
    (await ok(server.url, await tokenFor('alice'), CREATE_CHAT, { name, ids: ['bob'] })).createChat.id as string;
  const rows = (sql: string, params: unknown[]) => withClient(database.url, async (db) => (await db.query(sql, params)).rows);

  it('sends a post with a clientMessageId again until it is answered, and it lands once', async () => {
    const chatId = await newChat('retried post');
    const { client, waits } = clientOf('alice');
    // The first attempt is applied but its answer is lost; the second finds the server still down.
    proxy.failNext(1, { afterForwarding: true });
    proxy.failNext(1);

    const { createMessage } = await client.request(POST, { chatId, content: 'once', cmid: 'k-1' });

    expect(proxy.requests.map((request) => request.treatment)).toEqual(['applied, then unavailable', 'unavailable', 'forwarded']);
    expect(waits).toEqual([50, 100]);
    expect(proxy.requests[1]!.at - proxy.requests[0]!.at).toBeGreaterThanOrEqual(50 - 2);
    const stored = await rows('select id::text, seq from messages where chat_id = $1', [chatId]);
    expect(stored).toEqual([{ id: createMessage.id, seq: 1 }]);
    expect(createMessage).toMatchObject({ seq: 1, content: 'once' });
  });

  it('never sends createChat again: the error surfaces at once, after one request, saying the outcome is unknown', async () => {
    const { client, waits } = clientOf('alice');
    const before = await rows('select count(*)::int as n from chats', []);
    proxy.failNext(1, { afterForwarding: true });

    const refused = client.request(CREATE_CHAT, { name: 'maybe made', ids: ['bob'] });

    await expect(refused).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 503, attempts: 1, outcomeUnknown: true });
    expect(proxy.requests).toHaveLength(1);
    expect(waits).toEqual([]);
    // The one the server applied, and no second.
    expect(await rows('select count(*)::int as n from chats', [])).toEqual([{ n: before[0].n + 1 }]);
  });

  it('never sends a post without a clientMessageId again', async () => {
    const chatId = await newChat('unkeyed post');
    const { client } = clientOf('alice');
    proxy.failNext(1);

    await expect(client.request(POST, { chatId, content: 'no key' })).rejects.toMatchObject({ code: 'UNAVAILABLE', attempts: 1 });
    expect(proxy.requests).toHaveLength(1);
  });

  it('sends edits, deletions, read marks and queries again, each landing once', async () => {
    const chatId = await newChat('repeatable');
    const alice = await tokenFor('alice');
    const [first, second] = [
      (await ok(server.url, alice, POST, { chatId, content: 'first' })).createMessage,
      (await ok(server.url, alice, POST, { chatId, content: 'second' })).createMessage,
    ];
    const { client: bobs } = clientOf('bob');
    const { client } = clientOf('alice');

    proxy.failNext(1, { afterForwarding: true });
    expect((await client.request(EDIT, { id: first.id, content: 'edited' })).updateMessage).toMatchObject({ content: 'edited', isEdited: true });
    proxy.failNext(1, { afterForwarding: true });
    expect((await client.request(DELETE, { id: second.id })).deleteMessage).toEqual({ id: second.id });
    proxy.failNext(1, { afterForwarding: true });
    const { markMessageAsRead } = await bobs.request(MARK, { id: first.id });
    // A bare 503 from a load balancer is UNAVAILABLE too.
    proxy.failNext(2, { graphqlBody: false });
    expect(await client.request('{ me }')).toEqual({ me: 'alice' });

    expect(proxy.requests).toHaveLength(4 * 2 + 1);
    const events = await rows(`select type, count(*)::int as n from events where stream_id = $1 group by type order by type`, [chatId]);
    expect(events).toEqual([
      { type: 'ChatCreated', n: 1 },
      { type: 'MessageDeleted', n: 1 },
      { type: 'MessageEdited', n: 1 },
      { type: 'MessagePosted', n: 2 },
      { type: 'MessageRead', n: 1 },
    ]);
    expect(markMessageAsRead.messageId).toBe(first.id);
  });

  it('gives up after the attempts allowed, with the last answer and its code, each wait within the backoff', async () => {
    const { client, waits } = clientOf('alice', { retryUnavailable: { attempts: 4, withinMs: 60_000 } });
    proxy.failEvery();

    const failure = (await client.request('{ me }').catch((error: unknown) => error)) as ParleyError;

    expect(failure).toMatchObject({ code: 'UNAVAILABLE', status: 503, attempts: 4 });
    expect(proxy.requests).toHaveLength(4);
    expect(waits).toEqual([50, 100, 200]);
    const gaps = proxy.requests.slice(1).map((request, i) => request.at - proxy.requests[i]!.at);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(waits[i]! - 2));
  });

  it('gives up rather than wait past withinMs', async () => {
    // Waits of 200, 400, then 800: the third would end about 1400 ms after the first request.
    const { client, waits } = clientOf('alice', { backoff: { initialMs: 200, maxMs: 2000 }, retryUnavailable: { attempts: 10, withinMs: 1000 } });
    proxy.failEvery();
    const started = Date.now();

    await expect(client.request('{ me }')).rejects.toMatchObject({ code: 'UNAVAILABLE', attempts: 3 });

    expect(waits).toEqual([200, 400]);
    expect(proxy.requests).toHaveLength(3);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('subscribes again after a subscription is answered UNAVAILABLE over the socket', async () => {
    const chatId = await newChat('socket');
    const subscribes: string[] = [];
    // The first subscribe of messageAdded is answered, as the server would, with an UNAVAILABLE error frame.
    class FirstSubscribeUnavailable extends WebSocket {
      override send(data: any, ...rest: any[]): void {
        const message = JSON.parse(String(data));
        if (message.type === 'subscribe' && String(message.payload.query).includes('messageAdded')) {
          subscribes.push(message.id);
          if (subscribes.length === 1) {
            const frame = { id: message.id, type: 'error', payload: [{ message: 'postgres is unavailable', extensions: { code: 'UNAVAILABLE' } }] };
            setImmediate(() => this.emit('message', Buffer.from(JSON.stringify(frame)), false));
            return;
          }
        }
        (super.send as (...args: any[]) => void)(data, ...rest);
      }
    }
    const { client } = clientOf('bob', { webSocketImpl: FirstSubscribeUnavailable });
    const received: string[] = [];
    const errors: ParleyError[] = [];
    const after = (await ok(server.url, await tokenFor('bob'), '{ head }')).head;

    client.subscribe<{ id: string; content: string; cursor: string }>(
      { query: MESSAGE_ADDED, variables: { chatId }, after },
      { next: (message) => void received.push(message.content), error: (error) => void errors.push(error) },
    );
    await eventually(() => expect(subscribes).toHaveLength(2));
    await ok(server.url, await tokenFor('alice'), POST, { chatId, content: 'after the retry' });

    await eventually(() => expect(received).toEqual(['after the retry']));
    expect(errors).toEqual([]);
  });
});
