import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { FeedChannel, FeedHandlers, FeedSubscriber, RelayedRecord } from '../../src/application';
import { RedisTransport } from '../../src/infrastructure/redis/redis-transport.adapter';
import { eventually } from '../support/eventually';
import { TcpProxy } from '../support/tcp-proxy';

const COMMAND_TIMEOUT_MS = 500;
/** A deadline plus the time a loaded machine may take to notice it. */
const DEADLINE_BOUND_MS = COMMAND_TIMEOUT_MS + 1000;
const PARTITION = 2;

const row = (chatId: string, position: string, previous: string): RelayedRecord => ({
  position,
  previous,
  chatId,
  partition: PARTITION,
  membership: false,
  messages: [{ channel: 'messageAdded', payload: { content: position }, meta: { eventId: `e-${position}`, cursor: position, chatId, occurredAt: '2026-12-06T00:00:00.000Z' } }],
});

const chat = (chatId: string): FeedChannel => ({ kind: 'chat', partition: PARTITION, chatId });
const tick: FeedChannel = { kind: 'tick', partition: PARTITION };

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
 * left "ready" and deaf, the subscriber's is found stale by its probe, and once the link heals both work
 * again without a restart: the subscriber says it may have missed rows and subscribes every channel again.
 */
describe('Redis transport through a blackhole', () => {
  const prefix = `part-${randomBytes(3).toString('hex')}:`;
  let proxy: TcpProxy;
  let transport: RedisTransport;
  let feed: FeedSubscriber;
  const log: string[] = [];
  const errors: string[] = [];
  const handlers: FeedHandlers = {
    row: (record) => log.push(`row ${record.chatId} ${record.position}`),
    tick: (_partition, head) => log.push(`tick ${head}`),
    resubscribing: () => log.push('resubscribing'),
    resubscribed: () => log.push('resubscribed'),
    onError: (error) => errors.push(String((error as Error).message)),
  };

  beforeAll(async () => {
    proxy = await TcpProxy.inFrontOf(process.env.TEST_REDIS_URL!);
    transport = new RedisTransport({
      url: proxy.url(process.env.TEST_REDIS_URL!),
      prefix,
      probeIntervalMs: 200,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      onError: (error) => errors.push(String((error as Error).message)),
    });
    feed = transport.subscriber(handlers);
    await feed.subscribe([chat('c-1'), tick]);
    await eventually(() => expect(transport.subscriberHealthy()).toBe(true));
  });

  afterAll(async () => {
    proxy.heal();
    await feed.close();
    await transport.close();
    await proxy.stop();
  });

  it('fails publishes, pings and subscribes by their deadline while blackholed, and delivers every channel again once healed', async () => {
    await transport.publish(PARTITION, [row('c-1', '1.1', '0.0')], { tick: '1.1' });
    await eventually(() => expect(log).toContain('tick 1.1'));

    proxy.blackhole();
    const publish = await timed(transport.publish(PARTITION, [row('c-1', '1.2', '1.1')], { epoch: 1 }));
    expect(publish.outcome).toBe('rejected');
    expect(publish.ms).toBeLessThan(DEADLINE_BOUND_MS);
    // The timed-out connection was replaced: the next command does not queue behind the lost one.
    const ping = await timed(transport.publisherHealthy());
    expect(ping).toMatchObject({ outcome: 'resolved', value: false });
    expect(ping.ms).toBeLessThan(DEADLINE_BOUND_MS);
    // The subscriber's probe stops coming back: it is found stale and replaced.
    await eventually(() => expect(errors.some((error) => /stale/.test(error))).toBe(true));
    expect(transport.subscriberHealthy()).toBe(false);
    // A chat a client needs meanwhile cannot be confirmed: its subscribe fails within a bound instead of hanging.
    const subscribe = await timed(feed.subscribe([chat('c-2')]));
    expect(subscribe.outcome).toBe('rejected');
    expect(subscribe.ms).toBeLessThan(COMMAND_TIMEOUT_MS * 3 + 1000);

    const resubscribedBefore = log.lastIndexOf('resubscribed');
    proxy.heal();
    // The probe comes back through both connections: the publisher publishes and the subscriber hears again,
    // after telling the receiver that whatever was published meanwhile went unheard.
    await eventually(() => expect(transport.subscriberHealthy()).toBe(true));
    await eventually(() => expect(log.lastIndexOf('resubscribed')).toBeGreaterThan(resubscribedBefore));
    const resubscribed = log.lastIndexOf('resubscribed');
    expect(log.slice(resubscribedBefore + 1, resubscribed)).toContain('resubscribing');
    // Pub/sub keeps nothing for a subscriber that is away (the feed reads that from the outbox): publish once it listens.
    // Every channel asked for is subscribed on the new connection, the one whose subscribe failed too.
    expect(await transport.publish(PARTITION, [row('c-1', '1.3', '1.2'), row('c-2', '1.4', '0.0')], { epoch: 1, tick: '1.4' })).toEqual({ published: true });
    await eventually(() => expect(log.slice(resubscribed + 1)).toEqual(['row c-1 1.3', 'row c-2 1.4', 'tick 1.4']));
  });

  it('closes without waiting for a blackholed Redis', async () => {
    const lonely = new RedisTransport({ url: proxy.url(process.env.TEST_REDIS_URL!), prefix, commandTimeoutMs: COMMAND_TIMEOUT_MS, onError: () => undefined });
    const lonelyFeed = lonely.subscriber({ ...handlers, row: () => undefined, tick: () => undefined, resubscribing: () => undefined, resubscribed: () => undefined, onError: () => undefined });
    await lonelyFeed.subscribe([chat('c-1')]);
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
