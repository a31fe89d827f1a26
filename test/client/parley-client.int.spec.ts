import WebSocket from 'ws';
import { ParleyClient, type ConnectionState, type ParleyClientOptions, type ParleyError } from '../../client';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const CREATE_CHAT = 'mutation($name: String!, $ids: [ID!]!) { createChat(input: { name: $name, participantIds: $ids }) { id } }';
const POST = 'mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { id seq cursor } }';
const MARK = 'mutation($id: ID!) { markMessageAsRead(messageId: $id) { cursor } }';
const MESSAGE_ADDED = 'subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { id seq content cursor } }';
const UNREAD = 'subscription($after: String) { unreadCountUpdated(after: $after) { chatId unreadCount cursor } }';

interface Message {
  id: string;
  seq: number;
  content: string;
  cursor: string;
}

interface Count {
  chatId: string;
  unreadCount: number;
  cursor: string;
}

/**
 * A `ws` WebSocket that records what the client sends and can deliver every `next` frame twice, as an
 * at-least-once path would (a relay retry, a replay): the client must show each payload once anyway.
 */
function instrumentedWebSocket(options: { duplicateNext?: boolean } = {}) {
  const sent: Record<string, any>[] = [];
  let duplicated = 0;
  class Instrumented extends WebSocket {
    override send(data: any, ...rest: any[]): void {
      sent.push(JSON.parse(String(data)));
      (super.send as (...args: any[]) => void)(data, ...rest);
    }
  }
  const onmessage = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage')!;
  Object.defineProperty(Instrumented.prototype, 'onmessage', {
    configurable: true,
    get() {
      return onmessage.get!.call(this);
    },
    set(handler: ((event: { data: unknown }) => void) | null) {
      const twice = handler && ((event: { data: unknown }) => {
        handler(event);
        if (options.duplicateNext && JSON.parse(String(event.data)).type === 'next') {
          duplicated++;
          handler(event);
        }
      });
      onmessage.set!.call(this, twice);
    },
  });
  return {
    impl: Instrumented,
    subscribes: () => sent.filter((message) => message.type === 'subscribe'),
    duplicated: () => duplicated,
  };
}

describe('client library against a real server: resume, repeats, tokens, backoff, state', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let proxy: TcpProxy;
  const clients: ParleyClient[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    proxy = await TcpProxy.start(server.port);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await proxy.restore();
  });

  afterAll(async () => {
    await proxy.stop();
    await server.stop();
    await database.drop();
  });

  /** A client whose socket goes through the proxy (so a test can cut it); HTTP goes straight to the server. */
  function clientOf(user: string, overrides: Partial<ParleyClientOptions> = {}) {
    const states: ConnectionState[] = [];
    const errors: unknown[] = [];
    const client = new ParleyClient({
      url: server.url,
      wsUrl: proxy.url(server.url).replace(/^http/, 'ws'),
      getToken: () => tokenFor(user),
      webSocketImpl: WebSocket,
      backoff: { initialMs: 50, maxMs: 400 },
      onError: (error) => errors.push(error),
      ...overrides,
    });
    states.push(client.state);
    client.onStateChange((state) => states.push(state));
    clients.push(client);
    return { client, states, errors };
  }

  function collect<T>() {
    const items: T[] = [];
    const errors: ParleyError[] = [];
    return { items, errors, handlers: { next: (item: T) => void items.push(item), error: (error: ParleyError) => void errors.push(error) } };
  }

  const newChat = async (name: string, owner = 'alice', others = ['bob']) =>
    (await ok(server.url, await tokenFor(owner), CREATE_CHAT, { name, ids: others })).createChat.id as string;
  const post = async (user: string, chatId: string, content: string): Promise<Message> =>
    (await ok(server.url, await tokenFor(user), POST, { chatId, content })).createMessage;
  const head = async () => (await ok(server.url, await tokenFor('alice'), '{ head }')).head as string;

  it('resumes after a forced disconnect from the last cursor: the missed messages once, in order, then live ones', async () => {
    const chatId = await newChat('resume');
    const socket = instrumentedWebSocket();
    const { client, states } = clientOf('bob', { webSocketImpl: socket.impl });
    const received = collect<Message>();
    client.subscribe<Message>({ query: MESSAGE_ADDED, variables: { chatId }, after: await head() }, received.handlers);
    const first = await post('alice', chatId, 'one');
    await eventually(() => expect(received.items.map((m) => m.seq)).toEqual([1]));

    // When the connection is cut for real and messages are posted meanwhile
    await proxy.cut();
    await eventually(() => expect(client.state).toBe('reconnecting'));
    await post('alice', chatId, 'two');
    await post('alice', chatId, 'three');
    await proxy.restore();

    // Then it resumes after the cursor of the last message it handled, not the one it started from
    await eventually(() => expect(received.items.map((m) => m.content)).toEqual(['one', 'two', 'three']), 20_000);
    const resumed = socket.subscribes().filter((message) => message.payload.query === MESSAGE_ADDED);
    expect(resumed.map((message) => message.payload.variables.after)).toEqual([expect.any(String), first.cursor]);
    // and live messages follow, with nothing shown twice in between
    await post('alice', chatId, 'four');
    await eventually(() => expect(received.items.map((m) => m.seq)).toEqual([1, 2, 3, 4]));
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    expect(received.errors).toEqual([]);
  });

  it('shows every payload once when the path delivers it twice', async () => {
    const chatId = await newChat('twice');
    const socket = instrumentedWebSocket({ duplicateNext: true });
    const { client } = clientOf('bob', { webSocketImpl: socket.impl });
    const received = collect<Message>();
    client.subscribe<Message>({ query: MESSAGE_ADDED, variables: { chatId }, after: await head() }, received.handlers);
    for (const content of ['a', 'b', 'c']) await post('alice', chatId, content);
    await post('alice', chatId, 'last');
    await eventually(() => expect(received.items.at(-1)?.content).toBe('last'));
    expect(received.items.map((m) => m.content)).toEqual(['a', 'b', 'c', 'last']);
    expect(socket.duplicated()).toBeGreaterThanOrEqual(4);
  });

  it('keeps unread counts per chat across a resume, handling each payload once', async () => {
    const first = await newChat('count one');
    const second = await newChat('count two');
    const socket = instrumentedWebSocket({ duplicateNext: true });
    const { client } = clientOf('bob', { webSocketImpl: socket.impl });
    const seen = new Map<string, Count[]>();
    const record = (count: Count) => void seen.set(count.chatId, [...(seen.get(count.chatId) ?? []), count]);
    const counts = { get: (chatId: string) => seen.get(chatId)?.map((count) => count.unreadCount) };
    client.subscribe<Count>({ query: UNREAD, after: await head() }, { next: record });
    await eventually(() => expect(client.state).toBe('connected'));
    await post('alice', first, 'unread in one');
    await eventually(() => expect(counts.get(first)?.at(-1)).toBe(1));

    await proxy.cut();
    await eventually(() => expect(client.state).toBe('reconnecting'));
    const inSecond = await post('alice', second, 'unread in two');
    await post('alice', second, 'more in two');
    await ok(server.url, await tokenFor('bob'), MARK, { id: inSecond.id });
    await post('alice', first, 'more in one');
    await proxy.restore();

    // The current value of each chat's count arrives after the resume, whatever the cursors of the other chat
    await eventually(() => {
      expect(counts.get(first)?.at(-1)).toBe(2);
      expect(counts.get(second)?.at(-1)).toBe(1);
    }, 20_000);
    // Every frame came twice; none was handled twice. (The same value may come again under a newer
    // cursor: a count that went up and back down within one projection batch is sent once, as its last value.)
    expect(socket.duplicated()).toBeGreaterThan(0);
    for (const values of seen.values()) {
      const repeats = values.filter((count, index) => index > 0 && values[index - 1]!.cursor === count.cursor && values[index - 1]!.unreadCount === count.unreadCount);
      expect(repeats).toEqual([]);
    }
  });

  it('asks for a fresh token after the server closes with 4401, and reconnects with it', async () => {
    const chatId = await newChat('token');
    const asked: boolean[] = [];
    const { client, states } = clientOf('bob', {
      getToken: async ({ refresh }) => {
        asked.push(refresh);
        return refresh ? tokenFor('bob') : 'not-a-valid-token';
      },
    });
    const received = collect<Message>();
    client.subscribe<Message>({ query: MESSAGE_ADDED, variables: { chatId }, after: await head() }, received.handlers);
    await eventually(() => expect(client.state).toBe('connected'));
    expect(asked).toEqual([false, true]);
    await post('alice', chatId, 'after a fresh token');
    await eventually(() => expect(received.items.map((m) => m.content)).toEqual(['after a fresh token']));
    expect(states).toEqual(['connecting', 'connected']);
  });

  it('reconnects with a fresh token when its token expires on the open socket (4403), and resumes without a gap', async () => {
    const chatId = await newChat('expiry');
    const asked: boolean[] = [];
    const { client, states } = clientOf('bob', {
      getToken: async ({ refresh }) => {
        asked.push(refresh);
        return tokenFor('bob', refresh ? '1h' : '2s');
      },
    });
    const received = collect<Message>();
    client.subscribe<Message>({ query: MESSAGE_ADDED, variables: { chatId }, after: await head() }, received.handlers);
    await post('alice', chatId, 'before the expiry');
    await eventually(() => expect(received.items).toHaveLength(1));
    await eventually(() => expect(asked).toEqual([false, true]), 10_000);
    await post('alice', chatId, 'after the expiry');
    await eventually(() => expect(received.items.map((m) => m.content)).toEqual(['before the expiry', 'after the expiry']));
    expect(states).toContain('reconnecting');
    expect(client.state).toBe('connected');
  });

  it('retries an HTTP request once with a fresh token after UNAUTHENTICATED', async () => {
    const asked: boolean[] = [];
    const { client } = clientOf('carol', {
      getToken: async ({ refresh }) => {
        asked.push(refresh);
        return refresh ? tokenFor('carol') : 'expired';
      },
    });
    asked.length = 0;
    await eventually(() => expect(client.state).toBe('connected'));
    asked.length = 0;
    expect(await client.request('{ me }')).toEqual({ me: 'carol' });
    expect(asked).toEqual([false, true]);
    const { client: refused } = clientOf('carol', { getToken: () => 'bad' });
    await expect(refused.request('{ me }')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('backs off with jitter while the server cannot be reached, and starts over once connected', async () => {
    const delays: number[] = [];
    const { client, states } = clientOf('bob', {
      backoff: { initialMs: 40, maxMs: 160, resetAfterMs: 0 },
      random: () => 0.5,
      keepAliveMs: 0,
      timers: {
        setTimeout: (callback, ms) => {
          delays.push(ms);
          return setTimeout(callback, ms);
        },
        clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
        now: () => Date.now(),
      },
    });
    await eventually(() => expect(client.state).toBe('connected'));
    await proxy.cut();
    await eventually(() => expect(delays.length).toBeGreaterThanOrEqual(5), 20_000);
    // Half the ceiling plus half of it times random(): 0.75 × 40, 80, 160, then the cap
    expect(delays.slice(0, 5)).toEqual([30, 60, 120, 120, 120]);
    await proxy.restore();
    await eventually(() => expect(client.state).toBe('connected'), 20_000);
    delays.length = 0;
    await proxy.cut();
    await eventually(() => expect(delays.length).toBeGreaterThanOrEqual(1));
    expect(delays[0]).toBe(30);
    expect(states.slice(0, 4)).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  });

  it('ends a subscription the server refuses, without retrying it, and keeps the connection', async () => {
    const chatId = await newChat('private', 'alice', []);
    const { client } = clientOf('mallory');
    const refused = collect<Message>();
    client.subscribe<Message>({ query: MESSAGE_ADDED, variables: { chatId } }, refused.handlers);
    await eventually(() => expect(refused.errors.map((error) => error.code)).toEqual(['FORBIDDEN']));
    expect(client.state).toBe('connected');

    // Without `after`, a subscription starts at the head and resumes from there after a reconnect
    const own = await newChat('own', 'mallory', []);
    await post('mallory', own, 'before');
    const received = collect<Message>();
    const live = client.subscribe<Message>({ query: MESSAGE_ADDED, variables: { chatId: own } }, received.handlers);
    // It starts after the head the client reads first: a post committed before that read is not "live"
    await eventually(() => expect(live.cursor).toBeDefined());
    await post('mallory', own, 'live');
    await eventually(() => expect(received.items.map((m) => m.content)).toEqual(['live']));
    await proxy.cut();
    await eventually(() => expect(client.state).toBe('reconnecting'));
    await post('mallory', own, 'while away');
    await proxy.restore();
    await eventually(() => expect(received.items.map((m) => m.content)).toEqual(['live', 'while away']), 20_000);
  });

  it('sends a subscription made while the connection comes up once', async () => {
    const chatId = await newChat('once');
    const socket = instrumentedWebSocket();
    const received = collect<Message>();
    const from = await head();
    const { client } = clientOf('bob', { webSocketImpl: socket.impl });
    client.onStateChange((state) => {
      if (state === 'connected' && socket.subscribes().length === 0) {
        client.subscribe<Message>({ query: MESSAGE_ADDED, variables: { chatId }, after: from }, received.handlers);
      }
    });
    await post('alice', chatId, 'hello');
    await eventually(() => expect(received.items.map((m) => m.content)).toEqual(['hello']));
    expect(socket.subscribes().filter((message) => message.payload.query === MESSAGE_ADDED)).toHaveLength(1);
  });

  it('tries again with backoff when the token source fails, and stops once closed', async () => {
    let calls = 0;
    const { client, errors } = clientOf('bob', {
      getToken: async () => {
        calls++;
        if (calls === 1) throw new Error('token service unavailable');
        return tokenFor('bob');
      },
    });
    await eventually(() => expect(client.state).toBe('connected'));
    expect(errors.map(String)).toEqual(['Error: token service unavailable']);

    // A client closed from its own error handler does not come back
    let refusals = 0;
    const { client: closing, states } = clientOf('bob', {
      getToken: () => {
        refusals++;
        throw new Error('signed out');
      },
      onError: () => closing.close(),
    });
    await eventually(() => expect(closing.state).toBe('closed'));
    expect(refusals).toBe(1);
    expect(states).toEqual(['connecting', 'closed']);
  });

  it('refuses a subscription that cannot be resumed', () => {
    const { client } = clientOf('bob');
    expect(() => client.subscribe({ query: 'subscription { chatAdded { id cursor } }' }, { next: () => undefined })).toThrow(/\$after/);
  });

  it('goes to closed on close() and completes its subscriptions', async () => {
    const { client, states } = clientOf('bob');
    let completed = false;
    client.subscribe({ query: UNREAD }, { next: () => undefined, complete: () => (completed = true) });
    await eventually(() => expect(client.state).toBe('connected'));
    client.close();
    expect(completed).toBe(true);
    expect(states.at(-1)).toBe('closed');
    await eventually(() => expect(proxy.connectionCount).toBe(0));
  });
});
