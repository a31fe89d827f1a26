import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { eventually } from '../support/eventually';
import { graphql as graphqlStatus, ok } from '../support/graphql-http';
import { EdgeProxy, hostPortOf } from '../support/haproxy';
import { E2E_ENV, ParleyInstances } from '../support/parley-instances';
import { freePort, TestRedisServer } from '../support/redis-server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { tokenFor } from '../support/test-server';
import { requireBuiltWebClient, WebPages, type ChatPage } from '../support/web-pages';

/**
 * The cluster behind one address (README, "npm run cluster"): the repository's HAProxy configuration
 * in front of real Parley processes, each on a free port, as `npm run cluster` runs them on fixed ones.
 */

/** Waits on the effect, never on the clock; generous, for a loaded 2-core machine. */
const WAIT_MS = 30_000;
const until = <T>(assertion: () => Promise<T>, timeoutMs = WAIT_MS) => eventually(assertion, timeoutMs);

/** The proxy connects to the instances from this address (the kernel's choice for 127.0.0.1); only it is believed. */
const PROXY_ADDRESS = '127.0.0.1';

interface Answer {
  status: number;
  codes: string[];
}

/**
 * An unauthenticated `{ me }` from a given local address (all of 127.0.0.0/8 is this host), with an
 * X-Forwarded-For of the caller's choosing: such requests are limited per client address.
 */
function unauthenticatedFrom(url: string, localAddress: string, forwardedFor?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ query: '{ me }' });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    if (forwardedFor) headers['x-forwarded-for'] = forwardedFor;
    const req = request(url, { method: 'POST', localAddress, headers, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        try {
          const parsed = JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] };
          resolve({ status: response.statusCode!, codes: (parsed.errors ?? []).map((error) => error.extensions?.code ?? '?') });
        } catch {
          reject(new Error(`not a GraphQL answer (${response.statusCode}): ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * What a WebSocket upgrade of /graphql through the proxy gets: `101` from a receiver, `no receiver` when
 * HAProxy has none in rotation (its own 503 page), else the status.
 */
function upgradeStatus(origin: string): Promise<number | 'no receiver'> {
  return new Promise((resolve, reject) => {
    const req = request(`${origin}/graphql`, {
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-protocol': 'graphql-transport-ws',
      },
    });
    req.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode!);
    });
    req.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(response.statusCode === 503 && body.includes('No server is available') ? 'no receiver' : response.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

const limited = (answer: Answer) => answer.status === 429 && answer.codes.includes('RATE_LIMITED');

/**
 * Sends requests one after another, each naming a new client in X-Forwarded-For, until one is refused
 * as RATE_LIMITED; answers how many went first. Were the header believed, each request would have a
 * bucket of its own and none would ever be refused.
 */
async function requestsUntilLimited(url: string, localAddress: string, most = 30): Promise<number> {
  for (let n = 0; n < most; n++) {
    if (limited(await unauthenticatedFrom(url, localAddress, `198.51.100.${n + 1}`))) return n;
  }
  throw new Error(`${most} requests from ${localAddress}, each with another X-Forwarded-For, and none was limited: the header was believed`);
}

describe('the edge proxy: its X-Forwarded-For is believed, nobody else’s; senders stay in rotation with Redis down', () => {
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;
  const instances = new ParleyInstances(() => env);
  let proxy: EdgeProxy;

  beforeAll(async () => {
    database = await createTestDatabase();
    env = {
      DATABASE_URL: database.url,
      // Nothing listens there: Redis is down for the whole describe.
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      // One unauthenticated operation per second per client address on each sender.
      HTTP_OPERATIONS_PER_SECOND: '1',
      TRUST_PROXY: PROXY_ADDRESS,
      ...E2E_ENV,
    };
    await instances.migrateAndStart([
      ['sender-1', 'sender'],
      ['sender-2', 'sender'],
    ]);
    // No receivers: this describe is about HTTP.
    const nowhere = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`] as [string, string];
    proxy = await EdgeProxy.start(await freePort(), { senders: [hostPortOf(instances.url('sender-1')), hostPortOf(instances.url('sender-2'))], receivers: nowhere });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await instances.stopAll();
    await database?.drop();
  });

  it('routes HTTP to both senders while Redis is down, since their /readyz does not check Redis', async () => {
    // Parley answers (UNAUTHENTICATED), not HAProxy (503 without a JSON body): a fresh address each time
    const answers = await until(async () => {
      const got = await Promise.all([10, 11, 12, 13].map((n) => unauthenticatedFrom(`${proxy.origin}/graphql`, `127.0.0.${n}`)));
      expect(got).toEqual(got.map(() => ({ status: 200, codes: ['UNAUTHENTICATED'] })));
      return got;
    });
    expect(answers).toHaveLength(4);
    for (const name of ['sender-1', 'sender-2']) {
      expect((await fetch(instances.url(name).replace('/graphql', '/readyz'))).status).toBe(200);
    }
    expect(proxy.log).not.toMatch(/Server senders\/sender-\d is DOWN/);
  });

  it('keys a client through the proxy by the address the proxy saw, and ignores the X-Forwarded-For the client sent', async () => {
    // Given a client on the proxy's own address (which Parley trusts) naming a new address each time:
    // the proxy drops its header, so its requests share one bucket per sender and are soon limited
    const first = await requestsUntilLimited(`${proxy.origin}/graphql`, PROXY_ADDRESS);
    expect(first).toBeLessThan(10);

    // When another client comes through the same proxy right after, it has a bucket of its own: Parley
    // believes the address the proxy wrote, not the proxy's own (which is drained)
    const other = await unauthenticatedFrom(`${proxy.origin}/graphql`, '127.0.0.21', '198.51.100.200');
    expect(other).toEqual({ status: 200, codes: ['UNAUTHENTICATED'] });
  });

  it('does not believe an X-Forwarded-For sent straight to a sender by anyone but the proxy', async () => {
    const first = await requestsUntilLimited(instances.url('sender-1'), '127.0.0.22');
    expect(first).toBeLessThan(5);
  });
});

describe('the web client through the edge proxy against 2 senders, 2 receivers and 2 relays', () => {
  let database: TestDatabase;
  let redis: TestRedisServer;
  let env: NodeJS.ProcessEnv;
  const instances = new ParleyInstances(() => env);
  let proxy: EdgeProxy;
  let pages: WebPages;

  beforeAll(async () => {
    requireBuiltWebClient();
    database = await createTestDatabase();
    redis = new TestRedisServer(await freePort());
    await redis.start();
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      REDIS_CHANNEL_PREFIX: `e2e-${randomBytes(3).toString('hex')}:`,
      TRUST_PROXY: PROXY_ADDRESS,
      ...E2E_ENV,
    };
    [, pages] = await Promise.all([
      instances.migrateAndStart([
        ['sender-1', 'sender'],
        ['sender-2', 'sender'],
        ['receiver-1', 'receiver'],
        ['receiver-2', 'receiver'],
        ['relay-1', 'relay'],
        ['relay-2', 'relay'],
      ]),
      WebPages.launch(),
    ]);
    const at = (name: string) => hostPortOf(instances.url(name));
    proxy = await EdgeProxy.start(await freePort(), { senders: [at('sender-1'), at('sender-2')], receivers: [at('receiver-1'), at('receiver-2')] });
  }, 120_000);

  afterEach(() => {
    // An exception in the page is a failure even when the assertions passed.
    expect(pages.takePageErrors()).toEqual([]);
  });

  afterAll(async () => {
    await pages?.close();
    await proxy?.stop();
    await instances.stopAll();
    await redis?.stop();
    await database?.drop();
  });

  /** Open WebSocket connections of each receiver, from its /metrics. */
  async function socketsPerReceiver(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const instance of instances.all().filter(({ name }) => name.startsWith('receiver'))) {
      const text = await (await fetch(instance.url.replace('/graphql', '/metrics'))).text();
      counts[instance.name] = Number(text.match(/^parley_connected_clients (\S+)$/m)?.[1] ?? NaN);
    }
    return counts;
  }

  it('keeps a conversation whole when the receiver holding a page’s socket is killed: the page reconnects through the proxy to the other', async () => {
    // Given Alice's and Bob's pages, served by a sender through the proxy, each with its socket on a receiver
    await until(async () => expect(await socketsPerReceiver()).toEqual({ 'receiver-1': 0, 'receiver-2': 0 }));
    const alice = await pages.signedIn(`${proxy.origin}/`, 'alice');
    const aliceOnly = await until(async () => {
      const counts = await socketsPerReceiver();
      expect(Object.values(counts).reduce((a, b) => a + b)).toBe(1);
      return counts;
    });
    const bob = await pages.signedIn(`${proxy.origin}/`, 'bob');
    const both = await until(async () => {
      const counts = await socketsPerReceiver();
      expect(Object.values(counts).reduce((a, b) => a + b)).toBe(2);
      return counts;
    });
    // Bob's socket is where the count went up
    const bobsReceiver = Object.keys(both).find((name) => both[name]! > aliceOnly[name]!)!;
    const otherReceiver = Object.keys(both).find((name) => name !== bobsReceiver)!;

    // and a chat of the two, in which they talk
    await ok(`${proxy.origin}/graphql`, await tokenFor('alice'), 'mutation { createChat(input: { name: "Through the door", participantIds: ["bob"] }) { id } }');
    await alice.open('Through the door');
    await bob.open('Through the door');
    const posted: string[] = [];
    const say = async (page: ChatPage, text: string) => {
      await page.send(text);
      posted.push(text);
      await until(async () => expect(await page.contents()).toEqual(posted));
    };
    await say(alice, 'Hi Bob, are you there?');
    await until(async () => expect(await bob.contents()).toEqual(posted));
    await say(bob, 'Here. What is up?');
    await until(async () => expect(await alice.contents()).toEqual(posted));

    // When the receiver holding Bob's socket is killed mid-conversation, and Alice goes on meanwhile
    const killedAt = Date.now();
    await instances.kill(bobsReceiver);
    // Then Bob's page reconnects through the proxy to the other receiver, with both sockets there now
    const reconnected = until(async () => {
      expect(await socketsPerReceiver()).toEqual({ [otherReceiver]: 2 });
      expect(await bob.statusText()).toBe('Connected');
      return Date.now() - killedAt;
    });
    // The proxy's readiness checks mark the dead receiver down within a few seconds (inter 1 s, fall 2)
    const markedDown = until(async () => {
      expect(proxy.log).toContain(`Server receivers/${bobsReceiver} is DOWN`);
      return Date.now() - killedAt;
    }, 10_000);
    for (const text of ['The old receiver is gone.', 'This came while you moved.', 'And this one too.']) await say(alice, text);

    const reconnectedMs = await reconnected;

    // and each page shows every message once, in the order posted: none lost, none repeated
    await until(async () => expect(await bob.contents()).toEqual(posted));
    expect(await alice.contents()).toEqual(posted);

    // and the conversation goes on, live, both ways
    await say(bob, 'Got all three, in order.');
    await until(async () => expect(await alice.contents()).toEqual(posted));
    await say(alice, 'Good.');
    await until(async () => expect(await bob.contents()).toEqual(posted));
    expect(posted).toHaveLength(7);

    const markedDownMs = await markedDown;
    process.stdout.write(`front door: Bob's page connected again ${reconnectedMs} ms after its receiver was killed; HAProxy marked it down by ${markedDownMs} ms\n`);
  }, 120_000);

  it('stops sending sockets to a receiver whose /readyz fails while it runs, keeps senders in rotation, and takes it back once ready', async () => {
    // Given the one receiver left, ready, and the proxy sending upgrades to it
    const [receiver] = instances.all().filter(({ name }) => name.startsWith('receiver'));
    const readyz = receiver!.url.replace('/graphql', '/readyz');
    await until(async () => expect(await upgradeStatus(proxy.origin)).toBe(101));

    // When Redis stops, the receiver (alive, accepting connections) says it is not ready
    await redis.stop();
    await until(async () => expect((await fetch(readyz)).status).toBe(503));

    // Then the proxy answers upgrades itself (no receiver in rotation) within a few seconds, while
    // HTTP still reaches the senders, whose /readyz does not need Redis
    const stoppedAt = Date.now();
    await until(async () => expect(await upgradeStatus(proxy.origin)).toBe('no receiver'), 10_000);
    const outMs = Date.now() - stoppedAt;
    expect(proxy.log).toContain(`Server receivers/${receiver!.name} is DOWN`);
    expect((await graphqlStatus(`${proxy.origin}/graphql`, await tokenFor('alice'), '{ me }')).data).toEqual({ me: 'alice' });
    expect(proxy.log).not.toMatch(/Server senders\/sender-\d is DOWN/);

    // And when Redis is back, the receiver is ready and in rotation again
    await redis.start();
    await until(async () => expect((await fetch(readyz)).status).toBe(200));
    await until(async () => expect(await upgradeStatus(proxy.origin)).toBe(101), 10_000);
    process.stdout.write(`front door: a receiver not ready was out of rotation ${outMs} ms after its /readyz said so\n`);
  }, 120_000);
});
