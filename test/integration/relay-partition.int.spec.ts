import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { reportTiming } from '../support/report-timing';
import { ok } from '../support/graphql-http';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe, type Received } from '../support/ws-client';

const MESSAGE_ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }';
/** "Within a few seconds": the step-down (3 s of failing publishes) plus a standby's next try, with room for a busy machine. */
const TAKEOVER_BOUND_MS = 15_000;
/** The workload's pace, not a wait for an effect. */
const POST_PACE_MS = 50;

interface Relay {
  server: RunningServer;
  proxy: TcpProxy;
}

/**
 * A relay leader cut off from Redis (its own TCP proxy, blackholed: the socket stays open and carries
 * nothing) while posts go on: it cannot publish, so it steps down and releases the lock, and the relay
 * that can reach Redis leads. A relay that cannot reach Redis does not take the lead. In-process
 * servers on the real PostgreSQL and Redis: a sender and receiver, and two relays.
 */
describe('relay leadership follows Redis reachability', () => {
  let database: TestDatabase;
  let hub: RunningServer;
  let a: Relay;
  let b: Relay;
  const prefix = `relay-part-${randomBytes(3).toString('hex')}:`;
  const clients: Client[] = [];
  let alice: string;
  let chatId: string;
  let watcher: Received<{ seq: number }>;
  let posted = 0;

  const env = (redisUrl: string, role: string) => ({ ROLE: role, REDIS_URL: redisUrl, REDIS_CHANNEL_PREFIX: prefix, POLL_INTERVAL_MS: '500' });

  async function startRelay(): Promise<Relay> {
    const proxy = await TcpProxy.inFrontOf(process.env.TEST_REDIS_URL!);
    const server = await startTestServer(database.url, env(proxy.url(process.env.TEST_REDIS_URL!), 'relay'));
    return { server, proxy };
  }

  const leads = (relay: Relay) => relay.server.realtime.leadership!.isLeader;
  const counter = async (relay: Relay, name: 'relayedRecords' | 'relayStepDowns') =>
    (await relay.server.metrics[name].get()).values[0]?.value ?? 0;
  const leadershipRow = () =>
    withClient(database.url, async (c) => (await c.query('select epoch::int as epoch, holder from relay_leadership')).rows[0] as { epoch: number });
  const post = async () => {
    await ok(hub.url, alice, POST, { c: chatId, t: `m${posted + 1}` });
    posted++;
  };
  const seqs = () => watcher.items.map((item) => item.seq);
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  /** Posts about 20 a second until `stop()`, as clients would while the relay fails over. */
  function keepPosting() {
    let running = true;
    const done = (async () => {
      while (running) {
        await post();
        await new Promise((resolve) => setTimeout(resolve, POST_PACE_MS));
      }
    })();
    return async () => {
      running = false;
      await done;
    };
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    hub = await startTestServer(database.url, env(process.env.TEST_REDIS_URL!, 'sender,receiver'));
    a = await startRelay();
    await eventually(() => expect(leads(a)).toBe(true));
    b = await startRelay();
    alice = await tokenFor('alice');
    chatId = (await ok(hub.url, alice, 'mutation { createChat(input: { name: "relay", participantIds: ["bob"] }) { id } }')).createChat.id;
    const after = (await ok(hub.url, alice, '{ head }')).head as string;
    const client = connectClient(hub.url, await tokenFor('bob'));
    clients.push(client);
    watcher = subscribe(client, MESSAGE_ADDED, { c: chatId, a: after });
    for (let i = 0; i < 3; i++) await post();
    await watcher.count(3);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    for (const relay of [a, b]) relay?.proxy.heal();
    await Promise.all([a, b].map((relay) => relay?.server.stop().catch(() => undefined)));
    await Promise.all([a, b].map((relay) => relay?.proxy.stop()));
    await hub?.stop();
    await database.drop();
  });

  it('moves the lead to the relay that can reach Redis when the leader cannot publish; nothing lost or repeated', async () => {
    const { epoch } = await leadershipRow();
    const stopPosting = keepPosting();
    const cut = performance.now();
    a.proxy.blackhole();
    await eventually(() => expect(leads(b)).toBe(true), TAKEOVER_BOUND_MS);
    const ledAfterMs = performance.now() - cut;
    expect(leads(a)).toBe(false);
    expect(await counter(a, 'relayStepDowns')).toBe(1);
    expect((await leadershipRow()).epoch).toBe(epoch + 1);
    // The new leader publishes what is posted meanwhile.
    const relayedByB = await counter(b, 'relayedRecords');
    await eventually(async () => expect(await counter(b, 'relayedRecords')).toBeGreaterThan(relayedByB));
    await stopPosting();
    await watcher.count(posted, 20_000);

    // Healed, the old leader is a standby: the new one keeps the lead and publishes everything after.
    const relayedByA = await counter(a, 'relayedRecords');
    a.proxy.heal();
    const relayedByBAtHeal = await counter(b, 'relayedRecords');
    for (let i = 0; i < 5; i++) await post();
    await watcher.count(posted, 20_000);
    await eventually(async () => expect(await counter(b, 'relayedRecords')).toBeGreaterThanOrEqual(relayedByBAtHeal + 5));
    expect({ a: leads(a), b: leads(b) }).toEqual({ a: false, b: true });
    expect(await counter(a, 'relayedRecords')).toBe(relayedByA);
    expect(seqs()).toEqual(upTo(posted));
    reportTiming(`relay-partition: the other relay led ${Math.round(ledAfterMs)} ms after the leader's Redis was blackholed`);
  }, 60_000);

  it('does not give the lead to a standby that cannot reach Redis, and gives it once it can', async () => {
    // After the test above the standby is a, unless it ran alone.
    const [leader, standby] = leads(a) ? [a, b] : [b, a];
    const transport = standby.server.realtime.transport as unknown as { publisherHealthy(): Promise<boolean> };
    const original = transport.publisherHealthy.bind(transport);
    let refused = 0;
    transport.publisherHealthy = async () => {
      const answers = await original();
      if (!answers) refused++;
      return answers;
    };
    standby.proxy.blackhole();
    await eventually(async () => expect(await original()).toBe(false));
    const { epoch } = await leadershipRow();
    // The leader goes away: its session ends and the lock is free.
    await leader.server.stop();
    await post();
    // Three tries of the standby, each of which found Redis silent and left the lock alone (or it led).
    const refusedAfterStop = refused;
    await eventually(() => expect(refused >= refusedAfterStop + 3 || leads(standby)).toBe(true), 20_000);
    expect(leads(standby)).toBe(false);
    expect((await leadershipRow()).epoch).toBe(epoch);

    const healed = performance.now();
    standby.proxy.heal();
    await eventually(() => expect(leads(standby)).toBe(true), TAKEOVER_BOUND_MS);
    const ledAfterMs = performance.now() - healed;
    expect((await leadershipRow()).epoch).toBe(epoch + 1);
    await post();
    await watcher.count(posted, 20_000);
    expect(seqs()).toEqual(upTo(posted));
    reportTiming(`relay-partition: the standby led ${Math.round(ledAfterMs)} ms after its Redis healed`);
  }, 60_000);
});
