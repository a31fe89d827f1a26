import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createResumingClient, type ResumingClientOptions } from '../../client';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const MESSAGE_ADDED = 'subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { content cursor } }';
/** No `$after`: the wrapper leaves it as it is. */
const LIVE_ONLY = 'subscription($chatId: ID!) { messageAdded(chatId: $chatId) { content cursor } }';
const POST = 'mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { seq } }';

/** A `ws` WebSocket that records every `subscribe` the client sends, and tells `onSubscribe` once it is sent. */
function recordingWebSocket(onSubscribe: (payload: { query: string }) => void) {
  const subscribes: { query: string; variables?: Record<string, unknown> }[] = [];
  class Recording extends WebSocket {
    override send(data: any, ...rest: any[]): void {
      const message = JSON.parse(String(data));
      (super.send as (...args: any[]) => void)(data, ...rest);
      if (message.type !== 'subscribe') return;
      subscribes.push(message.payload);
      onSubscribe(message.payload);
    }
  }
  return { impl: Recording, subscribes };
}

function collect<T>() {
  const items: T[] = [];
  const errors: unknown[] = [];
  let completed = false;
  return {
    items,
    errors,
    get completed() {
      return completed;
    },
    sink: {
      next: (result: { data?: Record<string, T> | null }) => void items.push(Object.values(result.data!)[0]!),
      error: (error: unknown) => void errors.push(error),
      complete: () => void (completed = true),
    },
  };
}

/**
 * createResumingClient against a real server, with a TCP proxy that cuts the socket for real: what it
 * sends again after a loss, and what it never sends again (DESIGN.md §4, §5).
 */
describe('createResumingClient: resume with the last cursor received', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let proxy: TcpProxy;
  const clients: Client[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    proxy = await TcpProxy.start(server.port);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.dispose()));
    await proxy.restore();
  });

  afterAll(async () => {
    await proxy.stop();
    await server.stop();
    await database.drop();
  });

  function clientOf(user: string, overrides: Partial<ResumingClientOptions> = {}, onSubscribe: (payload: { query: string }) => void = () => undefined) {
    const socket = recordingWebSocket(onSubscribe);
    const urls: number[] = [];
    const client = createResumingClient({
      url: () => {
        urls.push(urls.length);
        return proxy.url(server.url).replace(/^http/, 'ws');
      },
      webSocketImpl: socket.impl,
      connectionParams: async () => ({ authorization: `Bearer ${await tokenFor(user)}` }),
      retryWait: () => Promise.resolve(),
      ...overrides,
    });
    clients.push(client);
    return { client, subscribes: socket.subscribes, urls };
  }

  const alice = () => tokenFor('alice');
  const newChat = async () => (await ok(server.url, await alice(), 'mutation { createChat(input: { name: "resume", participantIds: ["bob"] }) { id } }')).createChat.id as string;
  const post = async (chatId: string, content: string) => ok(server.url, await alice(), POST, { chatId, content });

  it('starts from { head } without after, and after a cut sends after: the last cursor received; the gap comes once, in order', async () => {
    const chatId = await newChat();
    const { client, subscribes } = clientOf('bob');
    const received = collect<{ content: string; cursor: string }>();
    client.subscribe({ query: MESSAGE_ADDED, variables: { chatId } }, received.sink);
    await eventually(() => expect(subscribes.map((payload) => payload.query)).toEqual(['{ head }', MESSAGE_ADDED]));
    const head = subscribes[1]!.variables!.after;
    expect(head).toEqual(expect.any(String));
    await post(chatId, 'one');
    await eventually(() => expect(received.items.map((m) => m.content)).toEqual(['one']));

    await proxy.cut();
    await post(chatId, 'two');
    await post(chatId, 'three');
    await proxy.restore();
    await eventually(() => expect(received.items.map((m) => m.content)).toEqual(['one', 'two', 'three']));
    expect(subscribes.filter((payload) => payload.query === MESSAGE_ADDED).map((payload) => payload.variables!.after)).toEqual([head, received.items[0]!.cursor]);
    await post(chatId, 'four');
    await eventually(() => expect(received.items.map((m) => m.content)).toEqual(['one', 'two', 'three', 'four']));
    expect(received.errors).toEqual([]);
  });

  it('keeps its subscriptions when a query is unsubscribed from inside its own next, as urql does', async () => {
    const chatId = await newChat();
    const { client } = clientOf('bob');
    const received = collect<{ content: string }>();
    client.subscribe({ query: MESSAGE_ADDED, variables: { chatId } }, received.sink);
    const heads: unknown[] = [];
    const unsubscribe = client.subscribe({ query: '{ head }' }, {
      next: (result) => {
        heads.push(result.data);
        unsubscribe();
      },
      error: () => undefined,
      complete: () => undefined,
    });
    await eventually(() => expect(heads).toHaveLength(1));
    await eventually(async () => {
      await post(chatId, 'still here');
      expect(received.items.length).toBeGreaterThan(0);
    });
    expect([received.errors, received.completed]).toEqual([[], false]);
  });

  it('sends a subscription without $after again as it was, after a cut', async () => {
    const chatId = await newChat();
    const { client, subscribes } = clientOf('bob');
    const live = collect<{ content: string }>();
    client.subscribe({ query: LIVE_ONLY, variables: { chatId } }, live.sink);
    await eventually(() => expect(subscribes).toHaveLength(1));
    await proxy.cut();
    await proxy.restore();
    await eventually(() => expect(subscribes).toHaveLength(2));
    expect(subscribes[1]).toEqual(subscribes[0]);
    // Live from whenever the server has it again: post until it hears.
    await eventually(async () => {
      await post(chatId, 'live');
      expect(live.items.length).toBeGreaterThan(0);
    });
    expect([live.errors, live.completed]).toEqual([[], false]);
  });

  it('ends with the close event and tries no more after 4401, a token refused at connection_init', async () => {
    const { client, urls } = clientOf('bob', { connectionParams: { authorization: 'Bearer not-a-token' } });
    const received = collect<unknown>();
    client.subscribe({ query: MESSAGE_ADDED, variables: { chatId: 'any', after: '0.0' } }, received.sink);
    await eventually(() => expect(received.errors).toHaveLength(1));
    expect((received.errors[0] as { code: number }).code).toBe(4401);
    expect(urls).toHaveLength(1);
  });

  it('never sends a mutation twice: its socket lost before the answer, it ends with the close event', async () => {
    const chatId = await newChat();
    // The socket is cut the moment the mutation has left: it may or may not have reached the server.
    let cut: Promise<void> | undefined;
    const { client, subscribes } = clientOf('alice', {}, (payload) => {
      if (payload.query === POST) cut = proxy.cut();
    });
    const answer = collect<unknown>();
    client.subscribe({ query: POST, variables: { chatId, content: 'once' } }, answer.sink);
    await eventually(() => expect(cut).toBeDefined());
    await cut;
    await proxy.restore();
    await eventually(() => expect(answer.errors).toHaveLength(1));
    expect(subscribes.filter((payload) => payload.query === POST)).toHaveLength(1);
    expect(answer.items).toEqual([]);
  });

  it('completes a subscription waiting to be sent again when disposed', async () => {
    const chatId = await newChat();
    const hold = new Promise<void>(() => undefined);
    const { client, subscribes } = clientOf('bob', { retryWait: () => hold });
    const received = collect<unknown>();
    client.subscribe({ query: MESSAGE_ADDED, variables: { chatId, after: '0.0' } }, received.sink);
    await eventually(() => expect(subscribes).toHaveLength(1));
    await proxy.cut();
    await client.dispose();
    await eventually(() => expect(received.completed).toBe(true));
    expect(received.errors).toEqual([]);
  });
});
