import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { errorCodes, graphql, ok } from '../support/graphql-http';
import { freePort } from '../support/redis-server';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const CREATE_CHAT = `mutation { createChat(input: { name: "down", participantIds: ["bob"] }) { id } }`;
const POST = `mutation($chatId: ID!) { createMessage(createMessageInput: { chatId: $chatId, content: "hi", clientMessageId: "down-1" }) { id } }`;

/**
 * DESIGN.md §5: a dependency that is down answers UNAVAILABLE (HTTP 503), so that a client tells
 * "retry later" from a bug, and a process started while PostgreSQL is down waits for it, not ready.
 */
describe('PostgreSQL down', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;

  beforeAll(async () => {
    database = await createTestDatabase();
    proxy = await TcpProxy.inFrontOf(database.url);
  });

  afterAll(async () => {
    await proxy.stop();
    await database.drop();
  });

  describe('while serving', () => {
    let server: RunningServer;
    let alice: string;
    let chatId: string;
    const clients: Client[] = [];

    beforeAll(async () => {
      server = await startTestServer(proxy.url(database.url), { DATABASE_STATEMENT_TIMEOUT_MS: '2000', DATABASE_CONNECT_TIMEOUT_MS: '1000' });
      alice = await tokenFor('alice');
      chatId = (await ok(server.url, alice, CREATE_CHAT)).createChat.id;
    });

    afterEach(() => proxy.restore());

    afterAll(async () => {
      await Promise.all(clients.map((client) => client.dispose()));
      await server.stop();
    });

    it('answers queries and mutations UNAVAILABLE with HTTP 503, and works again once it is back', async () => {
      await proxy.cut();

      const query = await graphql(server.url, alice, '{ chats { id } }');
      const mutation = await graphql(server.url, alice, POST, { chatId });

      expect([query.status, ...errorCodes(query)]).toEqual([503, 'UNAVAILABLE']);
      expect([mutation.status, ...errorCodes(mutation)]).toEqual([503, 'UNAVAILABLE']);
      await proxy.restore();
      await eventually(async () => expect((await graphql(server.url, alice, POST, { chatId })).errors).toBeUndefined());
    });

    it('answers a query whose connection went silent UNAVAILABLE, naming what failed and nothing of the statement', async () => {
      proxy.blackhole();
      try {
        const query = await graphql(server.url, alice, '{ chats { id } }');

        expect([query.status, ...errorCodes(query)]).toEqual([503, 'UNAVAILABLE']);
        expect(query.errors![0]!.message).toMatch(/^postgres is unavailable: .+; retry later$/);
        expect(query.errors![0]!.message).not.toMatch(/select|chat_participants/i);
      } finally {
        proxy.heal();
      }
    });

    it('opens every pooled connection with TCP keepalive and a bounded connect', () => {
      const settings = (server.database.orm.em.getConnection().getKnex().client as { connectionSettings: Record<string, unknown> }).connectionSettings;

      expect(settings).toMatchObject({ keepAlive: true, connectionTimeoutMillis: 1000 });
    });

    it('refuses a subscription it cannot check with UNAVAILABLE', async () => {
      const client = connectClient(server.url, alice);
      clients.push(client);
      await proxy.cut();

      const received = subscribe(client, 'subscription($c: ID!) { messageAdded(chatId: $c) { id } }', { c: chatId });

      const errors = (await received.error()) as { extensions?: { code?: string } }[];
      expect(errors.map((error) => error.extensions?.code)).toEqual(['UNAVAILABLE']);
    });
  });

  it('given a server started while PostgreSQL is down, it waits, alive but not ready, and starts once PostgreSQL answers', async () => {
    await proxy.cut();
    const port = await freePort();
    const readyz = () => fetch(`http://127.0.0.1:${port}/readyz`);

    const starting = startTestServer(proxy.url(database.url), { PORT: String(port), DATABASE_CONNECT_TIMEOUT_MS: '500' });
    let started: RunningServer | null = null;
    void starting.then((server) => (started = server));

    const waiting = await eventually(async () => {
      const response = await readyz();
      expect(response.status).toBe(503);
      return (await response.json()) as { checks: Record<string, boolean> };
    });
    expect(waiting.checks).toMatchObject({ postgres: false, started: false });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(started).toBeNull();

    await proxy.restore();
    const server = await starting;
    try {
      await eventually(async () => expect((await readyz()).status).toBe(200));
    } finally {
      await server.stop();
    }
  });
});
