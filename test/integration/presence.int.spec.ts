import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { errorCodes, graphql, ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe, type Received } from '../support/ws-client';

const PRESENCE_CHANGED = 'subscription { presenceChanged { userId online lastSeenAt } }';
const PRESENCE = 'query($u: [ID!]!) { presence(userIds: $u) { userId online lastSeenAt } }';

type Presence = { userId: string; online: boolean; lastSeenAt: string | null };

/**
 * Presence (DESIGN.md §10) across two receivers and a sender: online while any socket of the user is
 * open anywhere, transitions only, seen only by users who share a chat.
 */
describe('presence across receivers', () => {
  let database: TestDatabase;
  let hub: RunningServer;
  let first: RunningServer;
  let second: RunningServer;
  const tokens: Record<string, string> = {};
  const clients = new Set<Client>();
  const prefix = `presence-${randomBytes(3).toString('hex')}:`;

  beforeAll(async () => {
    database = await createTestDatabase();
    const redis = { REDIS_URL: process.env.TEST_REDIS_URL!, REDIS_CHANNEL_PREFIX: prefix };
    hub = await startTestServer(database.url, { ...redis, ROLE: 'sender,relay' });
    first = await startTestServer(database.url, { ...redis, ROLE: 'receiver', MIGRATE_ON_START: 'false' });
    second = await startTestServer(database.url, { ...redis, ROLE: 'receiver', MIGRATE_ON_START: 'false' });
    for (const user of ['alice', 'bob', 'carol', 'mallory']) tokens[user] = await tokenFor(user);
    // Alice shares a chat with Bob and one with Carol; Mallory shares none with anyone here.
    await ok(hub.url, tokens.alice!, 'mutation { createChat(input: { name: "ab", participantIds: ["bob"] }) { id } }');
    await ok(hub.url, tokens.alice!, 'mutation { createChat(input: { name: "ac", participantIds: ["carol"] }) { id } }');
    await ok(hub.url, tokens.mallory!, 'mutation { createChat(input: { name: "alone", participantIds: [] }) { id } }');
  });

  afterEach(async () => {
    await Promise.all([...clients].map((client) => close(client)));
  });

  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
    await hub?.stop();
    await database.drop();
  });

  /** A socket of the user on a receiver, acknowledged (so counted) once this resolves. */
  const connect = async (server: RunningServer, user: string): Promise<Client> => {
    const client = connectClient(server.url, tokens[user]!);
    clients.add(client);
    await new Promise<void>((resolve, reject) => client.subscribe({ query: '{ me }' }, { next: () => resolve(), error: reject, complete: () => undefined }));
    return client;
  };
  const close = async (client: Client) => {
    clients.delete(client);
    await client.dispose();
  };
  const presence = async (viewer: string, userIds: string[]) => (await ok<{ presence: Presence[] }>(hub.url, tokens[viewer]!, PRESENCE, { u: userIds })).presence;
  const isOnline = async (user: string) => (await presence(user, [user]))[0]!.online;
  /** Alice's presenceChanged, live once it has heard a transition of Carol (who comes and goes until it has). */
  const aliceWatching = async (server: RunningServer): Promise<Received<Presence>> => {
    const received = subscribe<Presence>(await connect(server, 'alice'), PRESENCE_CHANGED);
    await received.pokeUntil(() => received.items.some((item) => item.userId === 'carol'), async () => close(await connect(second, 'carol')), "carol's transitions", { attempts: 50, waitMs: 500 });
    await eventually(async () => expect(await isOnline('carol')).toBe(false));
    return received;
  };
  const transitionsOf = (received: Received<Presence>, user: string) => received.items.filter((item) => item.userId === user);

  it('keeps a user with 3 sockets on 2 receivers online until the last one closes, and tells those who share a chat of each transition once', async () => {
    const alice = await aliceWatching(first);
    const sockets = [await connect(first, 'bob'), await connect(first, 'bob'), await connect(second, 'bob')];
    await alice.until(() => transitionsOf(alice, 'bob').length >= 1, 10_000, 'bob online');
    expect(transitionsOf(alice, 'bob')).toEqual([{ userId: 'bob', online: true, lastSeenAt: null }]);

    await close(sockets[0]!);
    await close(sockets[2]!);
    // Both closes are taken: the second receiver holds none of Bob's sockets, the first one.
    await eventually(() => expect(second.realtime.presence!.users).toBe(0));
    expect(await isOnline('bob')).toBe(true);

    const closedAt = Date.now();
    await close(sockets[1]!);
    await alice.until(() => transitionsOf(alice, 'bob').length >= 2, 10_000, 'bob offline');
    const [online, offline] = transitionsOf(alice, 'bob');
    expect(online).toEqual({ userId: 'bob', online: true, lastSeenAt: null });
    expect(offline).toMatchObject({ userId: 'bob', online: false });
    expect(Date.parse(offline!.lastSeenAt!)).toBeGreaterThanOrEqual(closedAt - 1000);
    expect((await presence('alice', ['bob']))[0]).toEqual(offline);
  });

  it('shows nothing of users who share no chat with the viewer', async () => {
    const alice = await aliceWatching(second);
    await connect(first, 'mallory');
    await eventually(async () => expect(await isOnline('mallory')).toBe(true));
    // Strangers are left out of the answer, not refused; the viewer sees themself.
    expect((await presence('alice', ['mallory', 'bob', 'alice', 'nobody'])).map((item) => item.userId)).toEqual(['bob', 'alice']);
    // A transition announced after Mallory's reaches Alice; Mallory's never does.
    await close(await connect(first, 'bob'));
    await alice.until(() => transitionsOf(alice, 'bob').length >= 2, 10_000, "bob's online and offline");
    expect(transitionsOf(alice, 'mallory')).toEqual([]);
    expect((await presence('mallory', ['alice', 'bob'])).map((item) => item.userId)).toEqual([]);
  });

  it('refuses bad arguments with a code', async () => {
    const tooMany = Array.from({ length: 1001 }, (_, i) => `u${i}`);
    expect(errorCodes(await graphql(hub.url, tokens.alice!, PRESENCE, { u: tooMany }))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await graphql(hub.url, tokens.alice!, PRESENCE, { u: ['x'.repeat(129)] }))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await graphql(hub.url, null, PRESENCE, { u: ['bob'] }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await graphql(hub.url, tokens.alice!, PRESENCE, { u: [] }))).toEqual([]);
  });
});

describe('presence in one process (embedded mode keeps it in memory)', () => {
  let database: TestDatabase;
  let server: RunningServer;
  const clients: Client[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await server?.stop();
    await database.drop();
  });

  it('tells Alice when Bob comes and goes', async () => {
    const [alice, bob] = [await tokenFor('alice'), await tokenFor('bob')];
    await ok(server.url, alice, 'mutation { createChat(input: { name: "pair", participantIds: ["bob"] }) { id } }');
    const aliceClient = connectClient(server.url, alice);
    clients.push(aliceClient);
    const changes = subscribe<Presence>(aliceClient, PRESENCE_CHANGED);
    await eventually(() => expect(server.realtime.feed!.followedChats).toBe(1));
    const bobClient = connectClient(server.url, bob);
    await changes.count(1);
    expect((await ok<{ presence: Presence[] }>(server.url, alice, PRESENCE, { u: ['bob'] })).presence).toEqual([{ userId: 'bob', online: true, lastSeenAt: null }]);
    await bobClient.dispose();
    const [online, offline] = await changes.count(2);
    expect(online).toEqual({ userId: 'bob', online: true, lastSeenAt: null });
    expect(offline).toMatchObject({ userId: 'bob', online: false, lastSeenAt: expect.any(String) });
  });
});
