import { randomBytes } from 'node:crypto';
import { gql } from '@apollo/client';
import { createClient, type Client as SocketClient } from 'graphql-ws';
import WebSocket from 'ws';
import { apolloFor, watchChat as watchWithApollo } from '../client/examples/apollo';
import { watchChat as watchWithGraphqlWs } from '../client/examples/graphql-ws';
import { urqlFor, watchChat as watchWithUrql } from '../client/examples/urql';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { E2E_ENV, ParleyInstances } from '../support/parley-instances';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { tokenFor } from '../support/test-server';

const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }';
const MESSAGE_ADDED = 'subscription($c: ID!, $after: String) { messageAdded(chatId: $c, after: $after) { content cursor } }';

/**
 * The URL a client connects to, held by the test: `close()` makes the next connection wait until
 * `open(url)`, so that posts land while the client is certainly away, and the client then comes back
 * on another receiver, as behind a load balancer.
 */
class Door {
  private target: string | null;
  private readonly waiters: ((url: string) => void)[] = [];

  constructor(url: string) {
    this.target = url;
  }

  readonly url = (): Promise<string> => (this.target !== null ? Promise.resolve(this.target) : new Promise((resolve) => this.waiters.push(resolve)));

  close(): void {
    this.target = null;
  }

  open(url: string): void {
    this.target = url;
    for (const resolve of this.waiters.splice(0)) resolve(url);
  }

  /** Connections that wait at the closed door: the client lost its socket and is reconnecting. */
  get waiting(): number {
    return this.waiters.length;
  }
}

interface Watch {
  seen: string[];
  stop(): void;
}

/** `httpUrl`: a sender, for what goes over HTTP. */
type WatchFactory = (url: () => Promise<string>, getToken: () => Promise<string>, chatId: string, httpUrl: string) => Promise<Watch>;

/** The README's set-ups, run as they are written (Apollo's also answers a query over the same socket). */
const STANDARD_CLIENTS: [string, WatchFactory][] = [
  ['Apollo Client', async (url, getToken, chatId) => {
    const apollo = apolloFor(url, getToken);
    const seen: string[] = [];
    const subscription = watchWithApollo(apollo, chatId, (message) => seen.push(message.content));
    expect((await apollo.query<{ head: string }>({ query: gql`{ head }` })).data?.head).toEqual(expect.any(String));
    return { seen, stop: () => (subscription.unsubscribe(), apollo.stop()) };
  }],
  ['urql', async (url, getToken, chatId, httpUrl) => {
    const urql = urqlFor(httpUrl, url, getToken);
    const seen: string[] = [];
    const subscription = watchWithUrql(urql, chatId, (message) => seen.push(message.content));
    return { seen, stop: () => subscription.unsubscribe() };
  }],
  ['graphql-ws with createResumingClient', async (url, getToken, chatId) => {
    const seen: string[] = [];
    const client = watchWithGraphqlWs(url, getToken, chatId, (message) => seen.push(message.content));
    return { seen, stop: () => void client.dispose() };
  }],
];

/**
 * Standard clients (Apollo Client 4 and urql on graphql-ws) with the library's `createResumingClient`,
 * against real processes: a sender and relay, and two receivers. A client loses its receiver (SIGTERM,
 * which closes its sockets with 1001) or its token expires (4403); posts land while it is away; it comes
 * back on the other receiver. DESIGN.md §4: every message once, in order.
 */
describe('standard clients resume with the last cursor across receivers', () => {
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;
  const instances = new ParleyInstances(() => env);
  const watches: Watch[] = [];
  const sockets: SocketClient[] = [];
  let alice: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: process.env.TEST_REDIS_URL,
      REDIS_CHANNEL_PREFIX: `clients-${randomBytes(3).toString('hex')}:`,
      ...E2E_ENV,
    };
    await instances.migrateAndStart([
      ['core', 'sender,relay'],
      ['receiver-1', 'receiver'],
      ['receiver-2', 'receiver'],
    ]);
    alice = await tokenFor('alice');
  }, 120_000);

  afterEach(async () => {
    for (const watch of watches.splice(0)) watch.stop();
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
  });

  afterAll(async () => {
    await instances.stopAll();
    await database.drop();
  });

  const url = (name: string) => instances.url(name).replace(/^http/, 'ws');

  /** A chat of alice's with bob, and what alice posted to it, in order. */
  async function newChat() {
    const chatId = (await ok(instances.url('core'), alice, 'mutation { createChat(input: { name: "clients", participantIds: ["bob"] }) { id } }')).createChat.id as string;
    const posted: string[] = [];
    const post = async (content: string) => {
      await ok(instances.url('core'), alice, POST, { c: chatId, t: content });
      posted.push(content);
    };
    /** Posts until every watcher has received something: from then on each is live. */
    const untilLive = (...seen: string[][]) =>
      eventually(async () => {
        await post(`warm-up ${posted.length + 1}`);
        for (const list of seen) expect(list.length).toBeGreaterThan(0);
      }, 20_000);
    return { chatId, posted, post, untilLive };
  }

  /** What a watcher must have received: everything from its first payload on, once and in order. */
  const fromFirst = (posted: string[], seen: string[]) => posted.slice(posted.indexOf(seen[0]!));

  describe.each(STANDARD_CLIENTS)('%s', (_name, watch) => {
    it('a receiver stopped (SIGTERM, 1001) with posts while the client is away: every message once, in order, on the other receiver', async () => {
      const { chatId, posted, post, untilLive } = await newChat();
      const door = new Door(url('receiver-1'));
      const watcher = await watch(door.url, () => tokenFor('bob'), chatId, instances.url('core'));
      watches.push(watcher);
      await untilLive(watcher.seen);

      door.close();
      const stopped = instances.get('receiver-1').process.stop('SIGTERM');
      await eventually(() => expect(door.waiting).toBe(1));
      await stopped;
      for (const content of ['gap 1', 'gap 2', 'gap 3']) await post(content);
      door.open(url('receiver-2'));
      await post('live');

      await eventually(() => expect(watcher.seen.at(-1)).toBe('live'), 20_000);
      expect(watcher.seen).toEqual(fromFirst(posted, watcher.seen));
      await instances.start('receiver-1', 'receiver');
    });

    it('a token that expires (4403) with posts while the client is away: a fresh token, every message once, in order', async () => {
      const { chatId, posted, post, untilLive } = await newChat();
      const door = new Door(url('receiver-1'));
      const tokens: string[] = [];
      // The first token lives a few seconds, enough to get live; later ones an hour.
      const getToken = async () => {
        const token = await tokenFor('bob', tokens.length === 0 ? '6s' : '1h');
        tokens.push(token);
        return token;
      };
      const watcher = await watch(door.url, getToken, chatId, instances.url('core'));
      watches.push(watcher);
      await untilLive(watcher.seen);

      door.close();
      // No fault but the expiry: the server closes the socket and the client comes to the door again.
      await eventually(() => expect(door.waiting).toBe(1), 15_000);
      expect(tokens).toHaveLength(1);
      for (const content of ['gap 1', 'gap 2', 'gap 3']) await post(content);
      door.open(url('receiver-2'));
      await post('live');

      await eventually(() => expect(watcher.seen.at(-1)).toBe('live'), 20_000);
      expect(watcher.seen).toEqual(fromFirst(posted, watcher.seen));
      expect(tokens).toHaveLength(2);
    });
  });

  it('without the library, graphql-ws sends its first variables again: repeats with `after`, a gap without it', async () => {
    const { chatId, posted, post, untilLive } = await newChat();
    const door = new Door(url('receiver-1'));
    const client = createClient({
      url: door.url,
      webSocketImpl: WebSocket,
      connectionParams: async () => ({ authorization: `Bearer ${await tokenFor('bob')}` }),
    });
    sockets.push(client);
    const head = (await ok(instances.url('core'), alice, '{ head }')).head as string;
    const withAfter: string[] = [];
    const withoutAfter: string[] = [];
    for (const [seen, after] of [[withAfter, head], [withoutAfter, undefined]] as const) {
      client.subscribe<{ messageAdded: { content: string } }>(
        { query: MESSAGE_ADDED, variables: { c: chatId, after } },
        { next: ({ data }) => void seen.push(data!.messageAdded.content), error: () => undefined, complete: () => undefined },
      );
    }
    await untilLive(withAfter, withoutAfter);

    door.close();
    const stopped = instances.get('receiver-1').process.stop('SIGTERM');
    await eventually(() => expect(door.waiting).toBe(1));
    await stopped;
    // What it had received when its socket closed (the last warm-up may not have reached it).
    const beforeTheGap = [...withAfter];
    for (const content of ['gap 1', 'gap 2', 'gap 3']) await post(content);
    door.open(url('receiver-2'));
    // Live again only once it has sent its subscriptions anew: post until the one without `after` hears.
    await eventually(async () => {
      await post(`live ${posted.length + 1}`);
      expect(withoutAfter.at(-1)).toMatch(/^live/);
    }, 30_000);

    await eventually(() => expect(withAfter.at(-1)).toBe(posted.at(-1)));
    // From the first cursor again: what it had already received comes twice.
    expect(withAfter).toEqual([...beforeTheGap, ...posted]);
    // Live from the reconnect: the posts of the gap never come.
    expect(withoutAfter).not.toEqual(expect.arrayContaining(['gap 1']));
    expect(withoutAfter).not.toEqual(expect.arrayContaining(['gap 3']));
    await instances.start('receiver-1', 'receiver');
  });
});
