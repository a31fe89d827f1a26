import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { reportTiming } from '../support/report-timing';
import { ok } from '../support/graphql-http';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const MESSAGE_ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }';
/** The liveness bounds: not ready within 10 s of a partition, delivering within 10 s of healing. */
const LIVENESS_BOUND_MS = 10_000;

/**
 * A receiver whose Redis is blackholed (the socket stays open and carries nothing): it says so on
 * /readyz, its subscriber's probe finds the connection deaf, and once the link heals it subscribes
 * again and delivers, catching up from the outbox, with nothing lost or repeated.
 */
describe('a receiver cut off from Redis', () => {
  let database: TestDatabase;
  let hub: RunningServer;
  let receiver: RunningServer;
  let proxy: TcpProxy;
  let client: Client;
  const prefix = `recv-part-${randomBytes(3).toString('hex')}:`;

  const readiness = async () => {
    const response = await fetch(`http://127.0.0.1:${receiver.port}/readyz`, { signal: AbortSignal.timeout(5000) });
    return { status: response.status, body: (await response.json()) as { failing?: Record<string, string> } };
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    const redisUrl = process.env.TEST_REDIS_URL!;
    proxy = await TcpProxy.inFrontOf(redisUrl);
    hub = await startTestServer(database.url, { ROLE: 'sender,relay', REDIS_URL: redisUrl, REDIS_CHANNEL_PREFIX: prefix });
    receiver = await startTestServer(database.url, { ROLE: 'receiver', REDIS_URL: proxy.url(redisUrl), REDIS_CHANNEL_PREFIX: prefix, MIGRATE_ON_START: 'false' });
  });

  afterAll(async () => {
    await client?.dispose();
    proxy.heal();
    await receiver?.stop();
    await hub?.stop();
    await proxy.stop();
    await database.drop();
  });

  it('is not ready within 10 s, and delivers within 10 s of healing', async () => {
    const alice = await tokenFor('alice');
    const chatId = (await ok(hub.url, alice, 'mutation { createChat(input: { name: "cut", participantIds: ["bob"] }) { id } }')).createChat.id;
    const after = (await ok(hub.url, alice, '{ head }')).head as string;
    client = connectClient(receiver.url, await tokenFor('bob'));
    const watcher = subscribe<{ seq: number }>(client, MESSAGE_ADDED, { c: chatId, a: after });
    let posted = 0;
    const post = async () => {
      await ok(hub.url, alice, POST, { c: chatId, t: `m${posted + 1}` });
      posted++;
    };
    await eventually(async () => expect((await readiness()).status).toBe(200));
    await post();
    await watcher.count(1);

    const cut = performance.now();
    proxy.blackhole();
    await eventually(async () => expect((await readiness()).status).toBe(503), LIVENESS_BOUND_MS);
    const notReadyAfterMs = performance.now() - cut;
    // The subscriber's probe finds the connection deaf (no probe back for 6 s) and replaces it.
    await eventually(async () => expect(Object.keys((await readiness()).body.failing ?? {})).toContain('redis-subscriber'), LIVENESS_BOUND_MS);
    await post();

    const healed = performance.now();
    proxy.heal();
    await post();
    await watcher.count(posted, LIVENESS_BOUND_MS);
    const deliveredAfterMs = performance.now() - healed;
    await eventually(async () => expect((await readiness()).status).toBe(200), LIVENESS_BOUND_MS);
    const readyAfterMs = performance.now() - healed;
    // And it keeps delivering once ready.
    await post();
    await watcher.count(posted, LIVENESS_BOUND_MS);
    expect(watcher.items.map((item) => item.seq)).toEqual([1, 2, 3, 4]);
    reportTiming(
      `receiver-partition: 503 after ${Math.round(notReadyAfterMs)} ms; after healing, delivered in ${Math.round(deliveredAfterMs)} ms, ready in ${Math.round(readyAfterMs)} ms`,
    );
  }, 60_000);
});
