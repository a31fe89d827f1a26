import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { errorCodes, graphql, ok } from '../support/graphql-http';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const CREATE_CHAT = 'mutation($ids: [ID!]!) { createChat(input: { name: "typing", participantIds: $ids }) { id } }';
const SET_TYPING = 'mutation($c: ID!) { setTyping(chatId: $c, isTyping: true) }';
const PRESENCE = 'query($ids: [ID!]!) { presence(userIds: $ids) { userId online } }';

/**
 * `setTyping` and `presence` need Redis (DESIGN.md §10): with it out of reach (a TCP proxy that
 * blackholes the link), each answers UNAVAILABLE with HTTP 503 within the command deadline, as a
 * write does with PostgreSQL down, never a masked internal error; once Redis answers again both work.
 */
describe('typing and presence while Redis does not answer', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let server: RunningServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    proxy = await TcpProxy.inFrontOf(process.env.TEST_REDIS_URL!);
    server = await startTestServer(database.url, { REDIS_URL: proxy.url(process.env.TEST_REDIS_URL!), REDIS_COMMAND_TIMEOUT_MS: '300' });
  });

  afterAll(async () => {
    proxy?.heal();
    await server?.stop();
    await proxy?.stop();
    await database?.drop();
  });

  it('answers UNAVAILABLE (503) for setTyping and presence, and works again once Redis answers', async () => {
    const alice = await tokenFor('alice');
    const chatId = (await ok(server.url, alice, CREATE_CHAT, { ids: ['bob'] })).createChat.id as string;
    expect((await ok(server.url, alice, PRESENCE, { ids: ['bob'] })).presence).toEqual([{ userId: 'bob', online: false }]);

    proxy.blackhole();
    const typing = await graphql(server.url, alice, SET_TYPING, { c: chatId });
    expect({ status: typing.status, codes: errorCodes(typing) }).toEqual({ status: 503, codes: ['UNAVAILABLE'] });
    const presence = await graphql(server.url, alice, PRESENCE, { ids: ['bob'] });
    expect({ status: presence.status, codes: errorCodes(presence) }).toEqual({ status: 503, codes: ['UNAVAILABLE'] });

    // Connections dropped by their deadlines are made anew: polled until they are.
    proxy.heal();
    await eventually(async () => expect(await ok(server.url, alice, SET_TYPING, { c: chatId })).toEqual({ setTyping: true }));
    await eventually(async () => expect(await ok(server.url, alice, PRESENCE, { ids: ['bob'] })).toEqual({ presence: [{ userId: 'bob', online: false }] }));
  });
});
