import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { ok } from '../support/graphql-http';
import { TestRedisCluster } from '../support/redis-cluster';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

type Frame = { userId: string; isTyping: boolean };
type Presence = { userId: string; online: boolean };

/**
 * Typing and presence on a Redis Cluster (3 masters): the typing throttle key shares its chat's
 * partition slot with the channel, each user's presence record is a key of its own on whichever
 * master owns it, and the receivers' registry is one key.
 */
describe('typing and presence on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let database: TestDatabase;
  let hub: RunningServer;
  let first: RunningServer;
  let second: RunningServer;
  const clients: Client[] = [];
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ replicasPerMaster: 0 });
    database = await createTestDatabase();
    const redis = { REDIS_CLUSTER_URLS: cluster.seeds.join(',') };
    hub = await startTestServer(database.url, { ...redis, ROLE: 'sender,relay' });
    first = await startTestServer(database.url, { ...redis, ROLE: 'receiver', MIGRATE_ON_START: 'false' });
    second = await startTestServer(database.url, { ...redis, ROLE: 'receiver', MIGRATE_ON_START: 'false' });
    for (const user of ['alice', 'bob', 'carol']) tokens[user] = await tokenFor(user);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await Promise.all([first?.stop(), second?.stop()]);
    await hub?.stop();
    await database?.drop();
    await cluster?.stop();
  });

  const client = (server: RunningServer, user: string) => {
    const created = connectClient(server.url, tokens[user]!);
    clients.push(created);
    return created;
  };

  it('carries typing, throttled, and presence transitions between receivers', async () => {
    const chatIds: string[] = [];
    // Chats on several partitions, so on several masters.
    for (let i = 0; i < 6; i++) {
      chatIds.push((await ok(hub.url, tokens.alice!, 'mutation($n: String!) { createChat(input: { name: $n, participantIds: ["bob", "carol"] }) { id } }', { n: `c${i}` })).createChat.id);
    }
    const presence = subscribe<Presence>(client(second, 'bob'), 'subscription { presenceChanged { userId online } }');
    const typing = chatIds.map((chatId) => subscribe<Frame>(client(second, 'bob'), 'subscription($c: ID!) { typingIndicator(chatId: $c) { userId isTyping } }', { c: chatId }));
    // Each subscription is live once a stop of Carol's reaches it.
    await Promise.all(
      typing.map((received, i) =>
        received.pokeUntil(() => received.items.length > 0, () => ok(hub.url, tokens.carol!, 'mutation($c: ID!) { setTyping(chatId: $c, isTyping: false) }', { c: chatIds[i] }), 'a stop'),
      ),
    );

    const before = typing.map((received) => received.items.length);
    for (const chatId of chatIds) {
      for (let call = 0; call < 5; call++) await ok(hub.url, tokens.alice!, 'mutation($c: ID!) { setTyping(chatId: $c) }', { c: chatId });
      await ok(hub.url, tokens.alice!, 'mutation($c: ID!) { setTyping(chatId: $c, isTyping: false) }', { c: chatId });
    }
    await Promise.all(typing.map((received, i) => received.count(before[i]! + 2)));
    for (const [i, received] of typing.entries()) {
      expect(received.items.slice(before[i]).filter((frame) => frame.userId === 'alice')).toEqual([
        { userId: 'alice', isTyping: true },
        { userId: 'alice', isTyping: false },
      ]);
    }

    // Presence: Bob's receiver follows all six chats, so Alice's transition (announced on each) is heard once.
    const alice = client(first, 'alice');
    await presence.until(() => presence.items.some((item) => item.userId === 'alice' && item.online), 15_000, 'alice online');
    await alice.dispose();
    await presence.until(() => presence.items.some((item) => item.userId === 'alice' && !item.online), 15_000, 'alice offline');
    expect(presence.items.filter((item) => item.userId === 'alice')).toEqual([
      { userId: 'alice', online: true },
      { userId: 'alice', online: false },
    ]);
    const seen = await ok<{ presence: { userId: string; online: boolean; lastSeenAt: string | null }[] }>(hub.url, tokens.bob!, '{ presence(userIds: ["alice", "carol"]) { userId online lastSeenAt } }');
    expect(seen.presence).toEqual([
      { userId: 'alice', online: false, lastSeenAt: expect.any(String) },
      { userId: 'carol', online: false, lastSeenAt: null },
    ]);
  });
});
