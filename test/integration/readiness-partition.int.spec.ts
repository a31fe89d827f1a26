import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { reportTiming } from '../support/report-timing';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer } from '../support/test-server';

/** DESIGN.md §5: "/readyz answers within a second, naming the failing check". A little slack for a busy machine. */
const ANSWER_BOUND_MS = 1500;
/** Past this the probe is called hung: the test fails with what it got rather than waiting for jest. */
const HUNG_MS = 5000;

interface Probe {
  status: number;
  body: { status: string; checks: Record<string, boolean>; failing?: Record<string, string> };
  ms: number;
}

interface Instance {
  server: RunningServer;
  redis: TcpProxy;
  postgres: TcpProxy;
}

/** Counts the calls of one async method that have not settled yet, and the most that were at once. */
function inFlightOf<T extends object>(target: T, method: keyof T) {
  const original = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
  const stats = { calls: 0, inFlight: 0, most: 0 };
  (target as Record<keyof T, unknown>)[method] = (...args: unknown[]) => {
    stats.calls++;
    stats.inFlight++;
    stats.most = Math.max(stats.most, stats.inFlight);
    return original(...args).finally(() => stats.inFlight--);
  };
  return stats;
}

/**
 * /readyz during a partition (DESIGN.md §5 and §6): with Redis or PostgreSQL blackholed (a TCP proxy
 * that stops forwarding without closing anything), every role answers within about a second, 503 and
 * naming the check, except a sender, which needs no Redis. Probes that come while a check hangs share
 * the one in flight instead of piling up pings and queries.
 */
describe('readiness during a partition', () => {
  let database: TestDatabase;
  const prefix = `ready-${randomBytes(3).toString('hex')}:`;
  const instances: Instance[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    for (const { redis, postgres } of instances) {
      redis.heal();
      postgres.heal();
    }
    await Promise.all(instances.map(({ server }) => server.stop()));
    await Promise.all(instances.flatMap(({ redis, postgres }) => [redis.stop(), postgres.stop()]));
    await database.drop();
  });

  async function start(role: string): Promise<Instance> {
    const redis = await TcpProxy.inFrontOf(process.env.TEST_REDIS_URL!);
    const postgres = await TcpProxy.inFrontOf(database.url);
    const server = await startTestServer(postgres.url(database.url), {
      ROLE: role,
      REDIS_URL: redis.url(process.env.TEST_REDIS_URL!),
      REDIS_CHANNEL_PREFIX: prefix,
    });
    const instance = { server, redis, postgres };
    instances.push(instance);
    await eventually(async () => expect((await probe(instance)).status).toBe(200));
    return instance;
  }

  async function probe({ server }: Instance): Promise<Probe> {
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${server.port}/readyz`, { signal: AbortSignal.timeout(HUNG_MS) });
    const body = (await response.json()) as Probe['body'];
    return { status: response.status, body, ms: performance.now() - started };
  }

  /** The first probe after the cut: 503 within the bound, naming exactly the checks that depend on what was cut. */
  async function expectNotReady(instance: Instance, failing: string[]): Promise<Probe> {
    const answer = await probe(instance);
    expect({ status: answer.status, failing: Object.keys(answer.body.failing ?? {}).sort() }).toEqual({ status: 503, failing: [...failing].sort() });
    for (const name of failing) expect(answer.body.checks[name]).toBe(false);
    expect(answer.ms).toBeLessThan(ANSWER_BOUND_MS);
    reportTiming(`readiness-partition: 503 naming ${failing.join(', ')} ${Math.round(answer.ms)} ms after the cut`);
    return answer;
  }

  async function healed(instance: Instance, proxy: TcpProxy): Promise<void> {
    proxy.heal();
    await eventually(async () => expect((await probe(instance)).status).toBe(200), 15_000);
  }

  it('a sender stays ready with Redis blackholed, and is not ready within a second with PostgreSQL blackholed', async () => {
    const sender = await start('sender');
    expect(Object.keys((await probe(sender)).body.checks).sort()).toEqual(['migrations', 'postgres', 'started']);

    sender.redis.blackhole();
    const withoutRedis = await probe(sender);
    expect(withoutRedis.status).toBe(200);
    expect(withoutRedis.ms).toBeLessThan(ANSWER_BOUND_MS);
    await healed(sender, sender.redis);

    sender.postgres.blackhole();
    await expectNotReady(sender, ['postgres']);
    await healed(sender, sender.postgres);
  });

  it('a relay is not ready within a second with Redis or PostgreSQL blackholed, naming the one cut', async () => {
    const relay = await start('relay');
    expect(Object.keys((await probe(relay)).body.checks).sort()).toEqual(['migrations', 'postgres', 'redis', 'started']);

    relay.redis.blackhole();
    await expectNotReady(relay, ['redis']);
    await healed(relay, relay.redis);

    relay.postgres.blackhole();
    await expectNotReady(relay, ['postgres']);
    await healed(relay, relay.postgres);
  });

  it('a receiver is not ready within a second with Redis or PostgreSQL blackholed; concurrent probes share one ping or query', async () => {
    const receiver = await start('receiver');
    expect(Object.keys((await probe(receiver)).body.checks).sort()).toEqual(['migrations', 'postgres', 'redis', 'redis-subscriber', 'started']);
    const pings = inFlightOf(receiver.server.realtime.transport as unknown as { publisherHealthy(): Promise<boolean> }, 'publisherHealthy');
    const queries = inFlightOf(receiver.server.database, 'isReachable');

    receiver.redis.blackhole();
    await expectNotReady(receiver, ['redis']);
    // Two waves while the first ping is still unanswered: each probe answers, none adds a ping.
    for (let wave = 0; wave < 2; wave++) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => probe(receiver)));
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 503));
      expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(ANSWER_BOUND_MS);
    }
    expect(pings.most).toBe(1);
    await healed(receiver, receiver.redis);

    receiver.postgres.blackhole();
    await expectNotReady(receiver, ['postgres']);
    for (let wave = 0; wave < 2; wave++) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => probe(receiver)));
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 503));
      expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(ANSWER_BOUND_MS);
    }
    expect(queries.most).toBe(1);
    await healed(receiver, receiver.postgres);
  });
});
