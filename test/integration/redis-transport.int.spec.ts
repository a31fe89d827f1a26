import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { epochKey, feedChannelName, type ChannelMessage, type FeedChannel, type FeedHandlers, type FeedSubscriber, type RelayedRecord } from '../../src/application';
import { RedisTransport } from '../../src/infrastructure/redis/redis-transport.adapter';
import { eventually } from '../support/eventually';
import { freePort, TestRedisServer } from '../support/redis-server';

const OCCURRED_AT = '2026-12-06T00:00:00.000Z';

function post(chatId: string, position: string, content: string): ChannelMessage[] {
  const meta = { eventId: `e-${position}`, cursor: position, chatId, occurredAt: OCCURRED_AT };
  return [{ channel: 'messageAdded', payload: { chatId, content }, meta }];
}

/** A row as the relay hands it to the transport, built from its messages (no stored text). */
function row(partition: number, chatId: string, position: string, previous: string, content = `row ${position}`): RelayedRecord {
  return { position, previous, chatId, partition, membership: false, messages: post(chatId, position, content) };
}

function membershipRow(partition: number, chatId: string, position: string, previous: string, userIds: string[]): RelayedRecord {
  const meta = { eventId: `e-${position}`, cursor: position, chatId, occurredAt: OCCURRED_AT, userIds };
  return { position, previous, chatId, partition, membership: true, messages: [{ channel: 'chatAdded', payload: { id: chatId }, meta }] };
}

/** What one feed subscriber heard, in order. */
class Heard {
  readonly log: string[] = [];
  readonly rows: RelayedRecord[] = [];
  readonly errors: string[] = [];
  readonly handlers: FeedHandlers = {
    row: (record) => {
      this.rows.push(record);
      this.log.push(`row ${record.chatId} ${record.position}`);
    },
    tick: (partition, head) => this.log.push(`tick ${partition} ${head}`),
    resubscribing: () => this.log.push('resubscribing'),
    resubscribed: () => this.log.push('resubscribed'),
    onError: (error) => this.errors.push(String((error as Error).message ?? error)),
  };

  /** Rows and ticks only: what came through the channels. */
  get traffic(): string[] {
    return this.log.filter((line) => line.startsWith('row ') || line.startsWith('tick '));
  }

  count(entry: string): number {
    return this.log.filter((line) => line === entry).length;
  }
}

const chat = (partition: number, chatId: string): FeedChannel => ({ kind: 'chat', partition, chatId });
const tick = (partition: number): FeedChannel => ({ kind: 'tick', partition });
const members = (partition: number): FeedChannel => ({ kind: 'members', partition });

describe('Redis transport (real Redis, sharded channels)', () => {
  const prefix = `it-${randomBytes(3).toString('hex')}:`;
  const transportErrors: unknown[] = [];
  let transport: RedisTransport;
  let admin: Redis;
  const subscribers: FeedSubscriber[] = [];

  function subscriber(heard: Heard): FeedSubscriber {
    const made = transport.subscriber(heard.handlers);
    subscribers.push(made);
    return made;
  }

  async function shardSubscribers(name: string): Promise<number> {
    const answer = (await admin.call('PUBSUB', 'SHARDNUMSUB', `${prefix}${name}`)) as [string, number];
    return Number(answer[1]);
  }

  beforeAll(() => {
    transport = new RedisTransport({ url: process.env.TEST_REDIS_URL!, prefix, probeIntervalMs: 100, onError: (error) => transportErrors.push(error) });
    admin = new Redis(process.env.TEST_REDIS_URL!);
  });

  afterAll(async () => {
    await Promise.all(subscribers.map((made) => made.close()));
    await transport.close();
    admin.disconnect();
  });

  it('writes a row and a tick in the documented format on the prefixed sharded channels of their partition', async () => {
    // Given a raw client subscribed to partition 7's channels of chat c-1 (their names as the README documents them), and a feed subscriber on the chat and tick
    const raw = new Redis(process.env.TEST_REDIS_URL!);
    const seen: { channel: string; text: string }[] = [];
    raw.on('smessage', (channel: string, text: string) => seen.push({ channel, text }));
    const heard = new Heard();
    const feed = subscriber(heard);
    try {
      await raw.ssubscribe(`${prefix}{p07.502}:chat:c-1`, `${prefix}{p07.502}:members`, `${prefix}{p07.502}:tick`);
      await feed.subscribe([chat(7, 'c-1'), tick(7)]);

      // When the relay publishes a post, a membership row (from the outbox's stored text) and a tick
      const stored = JSON.stringify([{ channel: 'chatAdded', payload: { id: 'c-1' }, meta: { eventId: 'e-10.2', chatId: 'c-1', occurredAt: OCCURRED_AT, userIds: ['bob'] } }]);
      const joined: RelayedRecord = { ...membershipRow(7, 'c-1', '10.2', '10.1', ['bob']), stored: { json: stored, cursor: '10.2' } };
      expect(await transport.publish(7, [row(7, 'c-1', '10.1', '0.0', 'hello'), joined], { tick: '10.2' })).toEqual({ published: true });

      // Then each row goes on the chat's channel, the membership row once more on the partition's, then the tick
      await eventually(() => expect(seen).toHaveLength(4));
      expect(seen.map((message) => message.channel)).toEqual([
        `${prefix}{p07.502}:chat:c-1`,
        `${prefix}{p07.502}:chat:c-1`,
        `${prefix}{p07.502}:members`,
        `${prefix}{p07.502}:tick`,
      ]);
      const postMessages = JSON.stringify(post('c-1', '10.1', 'hello'));
      expect(seen[0]!.text).toBe(
        `{"position":"10.1","previous":"0.0","chatId":"c-1","partition":7,"membership":false,"cursor":"10.1","messages":${postMessages}}`,
      );
      // A stored row goes out as the outbox stored it: its text is not parsed and written again
      const joinedText = `{"position":"10.2","previous":"10.1","chatId":"c-1","partition":7,"membership":true,"cursor":"10.2","messages":${stored}}`;
      expect(seen[1]!.text).toBe(joinedText);
      expect(seen[2]!.text).toBe(joinedText);
      expect(seen[3]!.text).toBe('{"tick":"10.2"}');

      // And the feed subscriber reads them back as records, each payload stamped with its cursor
      await eventually(() => expect(heard.traffic).toEqual(['row c-1 10.1', 'row c-1 10.2', 'tick 7 10.2']));
      const [first, second] = heard.rows;
      expect(first).toMatchObject({ position: '10.1', previous: '0.0', chatId: 'c-1', partition: 7, membership: false });
      expect(first!.messages).toEqual([{ channel: 'messageAdded', payload: { chatId: 'c-1', content: 'hello', cursor: '10.1' }, meta: expect.objectContaining({ cursor: '10.1', chatId: 'c-1' }) }]);
      expect(second).toMatchObject({ position: '10.2', previous: '10.1', membership: true });
      expect(second!.messages[0]).toMatchObject({ channel: 'chatAdded', payload: { id: 'c-1', cursor: '10.2' }, meta: { cursor: '10.2', userIds: ['bob'] } });
      expect(heard.errors).toEqual([]);
    } finally {
      raw.disconnect();
      await feed.close();
    }
  });

  it('delivers only the channels a subscriber subscribed to', async () => {
    // Given a subscriber on chat c-1 and the tick of partition 3 (not c-2, not the membership channel)
    const heard = new Heard();
    const feed = subscriber(heard);
    await feed.subscribe([chat(3, 'c-1'), tick(3)]);
    expect(feed.channelCount).toBe(2);
    expect(await shardSubscribers(feedChannelName(chat(3, 'c-1')))).toBe(1);
    expect(await shardSubscribers(feedChannelName(chat(3, 'c-2')))).toBe(0);
    expect(await shardSubscribers(feedChannelName(members(3)))).toBe(0);

    // When rows of both chats, a membership row of c-2 and a tick are published on partition 3
    await transport.publish(3, [row(3, 'c-2', '20.1', '0.0'), row(3, 'c-1', '20.2', '0.0'), membershipRow(3, 'c-2', '20.3', '20.1', ['bob'])], { tick: '20.3' });

    // Then it hears c-1's row and the tick, and nothing of c-2 (a partition's messages arrive in order: the tick is last)
    await eventually(() => expect(heard.log).toContain('tick 3 20.3'));
    expect(heard.traffic).toEqual(['row c-1 20.2', 'tick 3 20.3']);

    // When it unsubscribes c-1, Redis no longer counts it, and a later row of c-1 never reaches it
    await feed.unsubscribe([chat(3, 'c-1')]);
    expect(feed.channelCount).toBe(1);
    expect(await shardSubscribers(feedChannelName(chat(3, 'c-1')))).toBe(0);
    await transport.publish(3, [row(3, 'c-1', '20.4', '20.2')], { tick: '20.4' });
    await eventually(() => expect(heard.log).toContain('tick 3 20.4'));
    expect(heard.traffic).toEqual(['row c-1 20.2', 'tick 3 20.3', 'tick 3 20.4']);

    // And the membership channel, once subscribed, carries only membership rows
    await feed.subscribe([members(3)]);
    await transport.publish(3, [row(3, 'c-2', '20.5', '20.3'), membershipRow(3, 'c-2', '20.6', '20.5', ['carol'])], { tick: '20.6' });
    await eventually(() => expect(heard.log).toContain('tick 3 20.6'));
    expect(heard.traffic.slice(3)).toEqual(['row c-2 20.6', 'tick 3 20.6']);
    expect(heard.errors).toEqual([]);
    await feed.close();
  });

  it('fences per partition: a lower epoch is refused whole, a replay without epoch goes through, partitions are independent', async () => {
    // Given a subscriber of chat c-1 and the ticks of partitions 4 and 5
    const heard = new Heard();
    const feed = subscriber(heard);
    await feed.subscribe([chat(4, 'c-1'), tick(4), chat(5, 'c-1'), tick(5)]);

    // When epochs 5, then 4 (with a tick), then a replay, then 5 again publish on partition 4
    expect(await transport.publish(4, [row(4, 'c-1', '30.1', '0.0')], { epoch: 5, tick: '30.1' })).toEqual({ published: true });
    expect(await transport.publish(4, [row(4, 'c-1', '30.2', '30.1'), row(4, 'c-1', '30.3', '30.2')], { epoch: 4, tick: '30.3' })).toEqual({ published: false, fencedBy: 5 });
    expect(await transport.publish(4, [row(4, 'c-1', '30.2', '30.1')])).toEqual({ published: true });
    expect(await transport.publish(4, [row(4, 'c-1', '30.4', '30.2')], { epoch: 5, tick: '30.4' })).toEqual({ published: true });
    // and partition 5 has an epoch of its own: 1 is not fenced by partition 4's 5
    expect(await transport.publish(5, [row(5, 'c-1', '31.1', '0.0')], { epoch: 1, tick: '31.1' })).toEqual({ published: true });
    // an empty batch only claims its epoch
    expect(await transport.publish(5, [], { epoch: 3 })).toEqual({ published: true });
    expect(await transport.publish(5, [row(5, 'c-1', '31.2', '31.1')], { epoch: 2, tick: '31.2' })).toEqual({ published: false, fencedBy: 3 });
    expect(await transport.publish(5, [], { tick: '31.5' })).toEqual({ published: true });

    // Then nothing of a refused batch went out, neither its rows nor its tick
    await eventually(() => expect(heard.log).toContain('tick 5 31.5'));
    expect(heard.traffic).toEqual(['row c-1 30.1', 'tick 4 30.1', 'row c-1 30.2', 'row c-1 30.4', 'tick 4 30.4', 'row c-1 31.1', 'tick 5 31.1', 'tick 5 31.5']);
    expect(await admin.get(`${prefix}${epochKey(4)}`)).toBe('5');
    expect(await admin.get(`${prefix}${epochKey(5)}`)).toBe('3');
    await feed.close();
  });

  it('notices a subscriber connection that stopped delivering without closing, replaces it and subscribes its channels again', async () => {
    // Given a subscriber that hears its own probe
    const heard = new Heard();
    const feed = subscriber(heard);
    await feed.subscribe([chat(6, 'c-1'), tick(6)]);
    await eventually(() => expect(transport.subscriberHealthy()).toBe(true));
    const resubscribedBefore = heard.count('resubscribed');

    // When its connection is made deaf: it stays open but is subscribed to nothing
    const connection = (feed as unknown as { connection: Redis }).connection;
    await connection.sunsubscribe();
    expect(await shardSubscribers(feedChannelName(chat(6, 'c-1')))).toBe(0);

    // Then the probe finds it stale, a new connection is told it may have missed rows, and subscribes again
    await eventually(() => expect(heard.count('resubscribed')).toBeGreaterThan(resubscribedBefore));
    expect(heard.errors.some((error) => /stale/.test(error))).toBe(true);
    const last = heard.log.lastIndexOf('resubscribed');
    expect(heard.log.lastIndexOf('resubscribing')).toBeLessThan(last);
    expect(heard.log.lastIndexOf('resubscribing')).toBeGreaterThanOrEqual(0);
    expect(await shardSubscribers(feedChannelName(chat(6, 'c-1')))).toBe(1);
    expect(await shardSubscribers(feedChannelName(tick(6)))).toBe(1);
    await transport.publish(6, [row(6, 'c-1', '40.1', '0.0')], { tick: '40.1' });
    await eventually(() => expect(heard.log.slice(last + 1)).toEqual(['row c-1 40.1', 'tick 6 40.1']));
    await eventually(() => expect(transport.subscriberHealthy()).toBe(true));
    await feed.close();
  });

  it('ignores malformed messages on its channels, reports them, and goes on delivering', async () => {
    // Given a subscriber of chat c-1, partition 8's membership and tick channels
    const heard = new Heard();
    const feed = subscriber(heard);
    await feed.subscribe([chat(8, 'c-1'), members(8), tick(8)]);
    const raw = new Redis(process.env.TEST_REDIS_URL!);
    try {
      // When anyone publishes junk there
      const valid = JSON.parse(`{"position":"50.1","previous":"0.0","chatId":"c-1","partition":8,"membership":false,"cursor":"50.1","messages":[]}`);
      const [chatC1, membersOf8, tickOf8] = [chat(8, 'c-1'), members(8), tick(8)].map(feedChannelName);
      const junk: [string, string][] = [
        [chatC1, 'not json'],
        [chatC1, '{"x":1}'],
        [chatC1, 'null'],
        [chatC1, JSON.stringify({ ...valid, chatId: 'c-2' })],
        [chatC1, JSON.stringify({ ...valid, partition: 9 })],
        [chatC1, JSON.stringify({ ...valid, position: 'x' })],
        [chatC1, JSON.stringify({ ...valid, messages: 'none' })],
        [membersOf8, JSON.stringify(valid)],
        [tickOf8, '{"tick":"soon"}'],
        [tickOf8, '[]'],
      ];
      for (const [channel, text] of junk) await raw.spublish(`${prefix}${channel}`, text);
      await transport.publish(8, [row(8, 'c-1', '50.2', '0.0')], { tick: '50.2' });

      // Then only the real row and tick are handed on, and each bad message was reported
      await eventually(() => expect(heard.log).toContain('tick 8 50.2'));
      expect(heard.traffic).toEqual(['row c-1 50.2', 'tick 8 50.2']);
      expect(heard.errors).toHaveLength(junk.length);
      expect(heard.errors.filter((error) => /malformed|JSON/.test(error))).toHaveLength(junk.length);
    } finally {
      raw.disconnect();
      await feed.close();
    }
  });

  it('fails a publish at once while Redis is away, and sends its script again to a restarted Redis', async () => {
    // Given a Redis of the test's own, with a publisher and a subscriber on it
    const own = new TestRedisServer(await freePort());
    await own.start();
    const errors: unknown[] = [];
    const lonely = new RedisTransport({ url: own.url, prefix, probeIntervalMs: 100, onError: (error) => errors.push(error) });
    const heard = new Heard();
    const feed = lonely.subscriber(heard.handlers);
    try {
      await feed.subscribe([chat(1, 'c-1'), tick(1)]);
      expect(await lonely.publish(1, [row(1, 'c-1', '1.1', '0.0')], { epoch: 1, tick: '1.1' })).toEqual({ published: true });
      await eventually(() => expect(heard.log).toContain('tick 1 1.1'));

      // When Redis goes away, a publish fails without waiting for it
      await own.stop();
      const started = Date.now();
      await expect(lonely.publish(1, [row(1, 'c-1', '1.2', '1.1')], { epoch: 1 })).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await lonely.publisherHealthy()).toBe(false);

      // Then once Redis is back (it forgot the script), publishes go through again, and the subscriber,
      // told that it may have missed rows, hears its channels again
      const resubscribedBefore = heard.count('resubscribed');
      await own.start();
      await eventually(async () => expect(await lonely.publish(1, [row(1, 'c-1', '1.3', '1.2')], { epoch: 1 })).toEqual({ published: true }));
      await eventually(() => expect(heard.count('resubscribed')).toBeGreaterThan(resubscribedBefore));
      await lonely.publish(1, [row(1, 'c-1', '1.4', '1.3')], { epoch: 1, tick: '1.4' });
      await eventually(() => expect(heard.log.slice(heard.log.lastIndexOf('resubscribed'))).toEqual(expect.arrayContaining(['row c-1 1.4', 'tick 1 1.4'])));
      expect(heard.log.slice(heard.log.lastIndexOf('resubscribed')).filter((line) => line.startsWith('tick'))).toEqual(['tick 1 1.4']);
    } finally {
      await feed.close();
      await lonely.close();
      await own.stop();
    }
  });
});
