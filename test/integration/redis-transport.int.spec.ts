import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import type { RelayedRecord } from '../../src/application';
import { RedisTransport } from '../../src/infrastructure/redis/redis-transport.adapter';
import { eventually } from '../support/eventually';
import { freePort, TestRedisServer } from '../support/redis-server';

const record = (position: string, previous: string, texts: string[]): RelayedRecord => ({
  position,
  previous,
  messages: texts.map((text, i) => ({
    channel: i === 0 ? 'messageAdded' : 'chatMessageNotification',
    payload: { content: text },
    meta: { eventId: `e-${position}`, cursor: position, chatId: 'c-1', occurredAt: '2026-11-25T00:00:00.000Z', ...(i > 0 ? { userIds: ['bob'] } : {}) },
  })),
});

describe('Redis transport (real Redis)', () => {
  const prefix = `it-${randomBytes(3).toString('hex')}:`;
  const errors: unknown[] = [];
  let transport: RedisTransport;
  let resubscribed = 0;
  const received: RelayedRecord[] = [];

  beforeAll(() => {
    transport = new RedisTransport({
      url: process.env.TEST_REDIS_URL!,
      prefix,
      probeIntervalMs: 100,
      onError: (error) => errors.push(error),
    });
    transport.subscribe((r) => received.push(r), () => resubscribed++);
  });

  afterAll(() => transport.close());

  it('publishes each message on its prefixed channel as { "<channel>": payload, "meta": … } and reassembles rows', async () => {
    await eventually(() => expect(transport.subscriberHealthy()).toBe(true));
    const raw = new Redis(process.env.TEST_REDIS_URL!);
    const seen: { channel: string; body: any }[] = [];
    await raw.subscribe(`${prefix}messageAdded`);
    raw.on('message', (channel, text) => seen.push({ channel, body: JSON.parse(text) }));
    try {
      await transport.publish([record('10.1', '0.0', ['one', 'two']), record('10.2', '10.1', ['three'])]);
      await eventually(() => expect(received).toHaveLength(2));
      expect(received.map((r) => [r.position, r.previous, r.messages.map((m) => m.payload.content)])).toEqual([
        ['10.1', '0.0', ['one', 'two']],
        ['10.2', '10.1', ['three']],
      ]);
      await eventually(() => expect(seen).toHaveLength(2));
      expect(seen[0]).toEqual({
        channel: `${prefix}messageAdded`,
        body: {
          messageAdded: { content: 'one' },
          meta: expect.objectContaining({ eventId: 'e-10.1', cursor: '10.1', chatId: 'c-1', occurredAt: '2026-11-25T00:00:00.000Z', position: '10.1' }),
        },
      });
    } finally {
      raw.disconnect();
    }
  });

  it('notices a subscriber connection that silently stopped delivering, and replaces it', async () => {
    const before = resubscribed;
    // Make the subscriber deaf without closing it: it unsubscribes from everything.
    const subscriber = (transport as unknown as { subscriber: Redis }).subscriber;
    await subscriber.unsubscribe();
    await eventually(() => expect(resubscribed).toBeGreaterThan(before), 5000);
    received.length = 0;
    await eventually(async () => {
      await transport.publish([record('11.1', '10.2', ['after reconnect'])]);
      expect(received.map((r) => r.position)).toContain('11.1');
    }, 5000);
    expect(errors.some((error) => /stale/.test(String((error as Error).message)))).toBe(true);
  });

  it('ignores malformed messages on its channels and keeps delivering', async () => {
    const raw = new Redis(process.env.TEST_REDIS_URL!);
    try {
      received.length = 0;
      for (const junk of ['{"x":1}', 'not json', '{"meta":{"position":"x"}}', '{"messageAdded":{},"meta":{"position":"1.1","cursor":"1.1","chatId":"c","index":3,"count":1}}']) {
        await raw.publish(`${prefix}messageAdded`, junk);
      }
      await transport.publish([record('12.1', '11.1', ['still here'])]);
      await eventually(() => expect(received.map((r) => r.position)).toContain('12.1'));
      // only real rows came through (the stale-probe test above may still be delivering its retries)
      expect(received.every((r) => ['11.1', '12.1'].includes(r.position))).toBe(true);
      expect(errors.some((error) => /malformed/.test(String((error as Error).message)))).toBe(true);
    } finally {
      raw.disconnect();
    }
  });

  it('parses a payload only when it is read, and reads a malformed one as empty instead of failing the row', async () => {
    const raw = new Redis(process.env.TEST_REDIS_URL!);
    try {
      received.length = 0;
      errors.length = 0;
      const meta = '{"eventId":"e","cursor":"13.1","chatId":"c","occurredAt":"2026-12-01T00:00:00.000Z","position":"13.1","previous":"12.1","index":0,"count":1}';
      await raw.publish(`${prefix}messageAdded`, `{"messageAdded":{"id":"m1",oops},"meta":${meta}}`);
      await eventually(() => expect(received.map((r) => r.position)).toContain('13.1'));
      const message = received.find((r) => r.position === '13.1')!.messages[0]!;
      expect(message.meta).toMatchObject({ cursor: '13.1', chatId: 'c' });
      expect(errors).toEqual([]);
      expect(message.payload).toEqual({});
      expect(errors).toHaveLength(1);
    } finally {
      raw.disconnect();
    }
  });

  it('publishes under an epoch only while no newer epoch has published; a refused batch sends nothing', async () => {
    received.length = 0;
    expect(await transport.publish([record('20.1', '12.1', ['epoch 5'])], 5)).toEqual({ published: true });
    expect(await transport.publish([record('20.2', '20.1', ['epoch 4', 'epoch 4 too'])], 4)).toEqual({ published: false, fencedBy: 5 });
    // A replay carries no epoch and is never fenced; the same epoch again goes through.
    expect(await transport.publish([record('20.3', '20.2', ['replayed'])])).toEqual({ published: true });
    expect(await transport.publish([record('20.4', '20.3', ['epoch 5 again'])], 5)).toEqual({ published: true });
    await eventually(() => expect(received.map((r) => r.position)).toContain('20.4'));
    expect(received.map((r) => r.position).filter((position) => position.startsWith('20.'))).toEqual(['20.1', '20.3', '20.4']);
  });

  it('fails a publish at once while Redis is away, instead of queueing it', async () => {
    const own = new TestRedisServer(await freePort());
    await own.start();
    const lonely = new RedisTransport({ url: own.url, prefix, onError: () => undefined });
    try {
      await lonely.publish([record('1.1', '0.0', ['x'])]);
      await own.stop();
      await expect(lonely.publish([record('1.2', '1.1', ['y'])])).rejects.toThrow();
      expect(await lonely.publisherHealthy()).toBe(false);
      // A restarted Redis has forgotten the publish script: it is sent again.
      await own.start();
      await eventually(async () => expect(await lonely.publish([record('1.3', '1.2', ['z'])], 1)).toEqual({ published: true }));
    } finally {
      await lonely.close();
      await own.stop();
    }
  });
});
