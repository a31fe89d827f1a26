import type { Client as WsClient } from 'graphql-ws';
import { Client } from 'pg';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { content cursor } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { cursor } }';

/**
 * Issue 9, "delivery not held by other transactions": a transaction left open anywhere on the
 * PostgreSQL server, even in another database, delays neither live delivery, nor a resume, nor `head`.
 */
describe('a transaction held open elsewhere on the server', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let elsewhere: Client;
  const clients: WsClient[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    // Given a transaction with an id, open on the server's other database, for the whole test
    elsewhere = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await elsewhere.connect();
    await elsewhere.query('begin');
    await elsewhere.query('select pg_current_xact_id()');
  });

  afterAll(async () => {
    await elsewhere.query('rollback');
    await elsewhere.end();
    await Promise.all(clients.map((client) => client.dispose()));
    await server.stop();
    await database.drop();
  });

  it('delays neither live delivery, nor a resume, nor head', async () => {
    const [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);
    const chatId = (await ok(server.url, alice, 'mutation { createChat(input: { name: "o", participantIds: ["bob"] }) { id } }')).createChat.id;
    const before = (await ok(server.url, bob, '{ head }')).head;
    const client = connectClient(server.url, bob);
    clients.push(client);
    const live = subscribe(client, ADDED, { c: chatId });
    await eventually(() => expect(server.realtime.router!.size).toBe(1));

    // When alice posts while that transaction stays open
    const posted = (await ok(server.url, alice, POST, { c: chatId, t: 'not held back' })).createMessage;

    // Then head includes it at once, the live subscriber gets it, and so does a resume from before it
    expect((await ok(server.url, bob, '{ head }')).head).toBe(posted.cursor);
    expect((await live.count(1, 10_000))[0].content).toBe('not held back');
    const resumed = subscribe(client, ADDED, { c: chatId, a: before });
    expect((await resumed.count(1, 10_000))[0].cursor).toBe(posted.cursor);
  });
});
