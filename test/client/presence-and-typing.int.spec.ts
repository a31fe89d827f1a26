import WebSocket from 'ws';
import { ParleyClient, type FetchLike } from '../../client';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { messageBoxChanged, messageSent, watchChat } from './examples/presence-and-typing';

const CREATE_CHAT = 'mutation($name: String!, $ids: [ID!]!) { createChat(input: { name: $name, participantIds: $ids }) { id } }';
const POST = 'mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { id } }';
const PRESENCE = 'query($ids: [ID!]!) { presence(userIds: $ids) { userId online } }';

/** The README's typing and presence example (`examples/presence-and-typing.ts`), run against a real server. */
describe('client library against a real server: typing and presence', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let proxy: TcpProxy;
  const clients: ParleyClient[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url, { HTTP_OPERATIONS_PER_SECOND: '1000' });
    proxy = await TcpProxy.start(server.port);
  });

  afterAll(async () => {
    for (const client of clients.splice(0)) client.close();
    await proxy?.stop();
    await server?.stop();
    await database?.drop();
  });

  /** A client whose `setTyping` requests the test counts. */
  function clientFor(userId: string, url = server.url) {
    const setTyping: boolean[] = [];
    const countingFetch: FetchLike = async (target, init) => {
      const body = JSON.parse(init.body) as { query: string; variables: { isTyping?: boolean } };
      if (body.query.includes('setTyping')) setTyping.push(body.variables.isTyping!);
      return fetch(target, init);
    };
    const client = new ParleyClient({
      url,
      webSocketImpl: WebSocket,
      fetch: countingFetch,
      backoff: { initialMs: 100, maxMs: 500 },
      getToken: () => tokenFor(userId),
    });
    clients.push(client);
    return { client, setTyping };
  }

  async function serverSaysOnline(asking: string, userId: string): Promise<boolean | undefined> {
    const { presence } = await ok<{ presence: { userId: string; online: boolean }[] }>(server.url, await tokenFor(asking), PRESENCE, { ids: [userId] });
    return presence.find((each) => each.userId === userId)?.online;
  }

  it('throttles typing to one request per 2 s, shows it to the others, ends it on clear and send, and follows presence across a reconnect', async () => {
    // Given Alice, Bob and Carol in one chat; Bob's client goes through a proxy the test can cut
    const { createChat: chat } = await ok(server.url, await tokenFor('alice'), CREATE_CHAT, { name: 'Trip', ids: ['bob', 'carol'] });
    const alice = clientFor('alice');
    const carol = clientFor('carol');
    const bob = clientFor('bob', proxy.url(server.url));
    const typingShown: string[] = [];
    const presence = new Map<string, boolean>();
    const stop = watchChat(bob.client, chat.id, ['alice', 'carol'], {
      typing: (text) => typingShown.push(text),
      presence: (userId, online) => presence.set(userId, online),
    });
    await eventually(() => expect(Object.fromEntries(presence)).toEqual({ alice: true, carol: true }), 20_000);

    // When Alice's box changes 50 times in a burst, one setTyping goes out, and Bob sees her typing
    for (let key = 1; key <= 50; key++) messageBoxChanged(alice.client, chat.id, 'x'.repeat(key));
    await eventually(() => expect(typingShown[typingShown.length - 1]).toBe('alice is typing…'), 20_000);
    expect(alice.setTyping).toEqual([true]);

    // and with Carol typing too, both are named in the order they started
    messageBoxChanged(carol.client, chat.id, 'Hi');
    await eventually(() => expect(typingShown[typingShown.length - 1]).toBe('alice, carol are typing…'), 20_000);

    // When Carol clears her box, false goes at once and she leaves Bob's indicator
    messageBoxChanged(carol.client, chat.id, '');
    await eventually(() => expect(typingShown[typingShown.length - 1]).toBe('alice is typing…'), 20_000);
    expect(carol.setTyping).toEqual([true, false]);

    // When Alice sends, her typing ends too
    await alice.client.request(POST, { chatId: chat.id, content: 'See you at 9' });
    messageSent(alice.client, chat.id);
    await eventually(() => expect(typingShown[typingShown.length - 1]).toBe(''), 20_000);
    expect(alice.setTyping).toEqual([true, false]);

    // When Alice's client closes, Bob sees her offline
    alice.client.close();
    await eventually(() => expect(presence.get('alice')).toBe(false), 20_000);

    // When Bob is cut off and Carol leaves meanwhile, her transition is lost to him…
    await proxy.cut();
    await eventually(() => expect(bob.client.state).not.toBe('connected'), 20_000);
    carol.client.close();
    await eventually(async () => expect(await serverSaysOnline('bob', 'carol')).toBe(false), 20_000);
    expect(presence.get('carol')).toBe(true);
    // …and once he is back, the presence query read again after the reconnect shows it
    await proxy.restore();
    await eventually(() => expect(presence.get('carol')).toBe(false), 20_000);
    expect(bob.client.state).toBe('connected');
    stop();
  }, 120_000);
});
