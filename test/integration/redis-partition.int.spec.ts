import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { RelayedRecord } from '../../src/application';
import { RedisTransport } from '../../src/infrastructure/redis/redis-transport.adapter';
import { eventually } from '../support/eventually';
import { TcpProxy } from '../support/tcp-proxy';

const COMMAND_TIMEOUT_MS = 500;
/** A deadline plus the time a loaded machine may take to notice it. */
const DEADLINE_BOUND_MS = COMMAND_TIMEOUT_MS + 1000;

const record = (position: string, previous: string, text: string): RelayedRecord => ({
  position,
  previous,
  messages: [{ channel: 'messageAdded', payload: { content: text }, meta: { eventId: `e-${position}`, cursor: position, chatId: 'c-1', occurredAt: '2026-12-06T00:00:00.000Z' } }],
});

async function timed<T>(work: Promise<T>): Promise<{ ms: number; outcome: 'resolved' | 'rejected'; value?: T }> {
  const started = performance.now();
  try {
    const value = await work;
    return { ms: performance.now() - started, outcome: 'resolved', value };
  } catch {
    return { ms: performance.now() - started, outcome: 'rejected' };
  }
}

/**
 * The Redis transport on a link that stays open but carries nothing (a TCP proxy's blackhole): every
 * command fails by its deadline instead of hanging, the publisher's connection is replaced rather than
 * left "ready" and deaf, and once the link heals both connections work again without a restart.
 */
describe('Redis transport through a blackhole', () => {
  const prefix = `part-${randomBytes(3).toString('hex')}:`;
  let proxy: TcpProxy;
  let transport: RedisTransport;
  const received: RelayedRecord[] = [];
  const errors: string[] = [];
  let resubscribed = 0;

  beforeAll(async () => {
    proxy = await TcpProxy.inFrontOf(process.env.TEST_REDIS_URL!);
    transport = new RedisTransport({
      url: proxy.url(process.env.TEST_REDIS_URL!),
      prefix,
      probeIntervalMs: 200,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      onError: (error) => errors.push(String((error as Error).message)),
    });
    transport.subscribe((r) => received.push(r), () => resubscribed++);
    await eventually(() => expect(transport.subscriberHealthy()).toBe(true));
  });

  afterAll(async () => {
    proxy.heal();
    await transport.close();
    await proxy.stop();
  });

  it('fails publishes and pings by their deadline while blackholed, and publishes again once healed', async () => {
    await transport.publish([record('1.1', '0.0', 'before')]);
    await eventually(() => expect(received.map((r) => r.position)).toContain('1.1'));

    proxy.blackhole();
    const publish = await timed(transport.publish([record('1.2', '1.1', 'into the void')], 1));
    expect(publish.outcome).toBe('rejected');
    expect(publish.ms).toBeLessThan(DEADLINE_BOUND_MS);
    // The timed-out connection was replaced: the next command does not queue behind the lost one.
    const ping = await timed(transport.publisherHealthy());
    expect(ping).toMatchObject({ outcome: 'resolved', value: false });
    expect(ping.ms).toBeLessThan(DEADLINE_BOUND_MS);
    // The subscriber's probe stops coming back: it is found stale and replaced.
    await eventually(() => expect(errors.some((error) => /stale/.test(error))).toBe(true));
    expect(transport.subscriberHealthy()).toBe(false);

    const resubscribedBefore = resubscribed;
    proxy.heal();
    // The probe comes back through both connections: the publisher publishes and the subscriber hears again.
    await eventually(() => expect(transport.subscriberHealthy()).toBe(true));
    expect(resubscribed).toBeGreaterThan(resubscribedBefore);
    // Pub/sub keeps nothing for a subscriber that is away (the feed reads that from the outbox): publish once it listens.
    expect(await transport.publish([record('1.3', '1.2', 'after')], 1)).toEqual({ published: true });
    await eventually(() => expect(received.map((r) => r.position)).toContain('1.3'));
  });

  it('closes without waiting for a blackholed Redis', async () => {
    const lonely = new RedisTransport({ url: proxy.url(process.env.TEST_REDIS_URL!), prefix, commandTimeoutMs: COMMAND_TIMEOUT_MS, onError: () => undefined });
    lonely.subscribe(() => undefined);
    await eventually(async () => expect(await lonely.publisherHealthy()).toBe(true));
    proxy.blackhole();
    try {
      const closed = await timed(lonely.close());
      expect(closed.outcome).toBe('resolved');
      expect(closed.ms).toBeLessThan(DEADLINE_BOUND_MS);
    } finally {
      proxy.heal();
    }
  });
});
