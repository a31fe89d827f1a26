import {
  compareCursors,
  EventTransport,
  feedChannelName,
  NO_ROW,
  parseFeedChannelName,
  rowChannels,
  type ChannelMessage,
  type FeedChannel,
  type FeedHandlers,
  type FeedSubscriber,
  type PublishOutcome,
  type RelayedRecord,
} from '../../../src/application';
import type { FeedStore } from '../../../src/infrastructure/receiver/feed-store';
import { InterestFeed, type InterestFeedOptions } from '../../../src/infrastructure/receiver/interest-feed';
import { eventually } from '../../support/eventually';

/**
 * A receiver's subscriber as the feed sees it: a row or tick reaches the feed only on a channel it
 * subscribed to. A subscribe takes effect at once; its confirmation waits while `holding`, so that a
 * test decides what the feed hears before it is confirmed.
 */
class FakeSubscriber implements FeedSubscriber {
  handlers!: FeedHandlers;
  readonly channels = new Set<string>();
  readonly subscribeCalls: string[][] = [];
  readonly unsubscribeCalls: string[][] = [];
  holding = false;
  private held: (() => void)[] = [];

  get channelCount(): number {
    return this.channels.size;
  }

  /** When set, subscribes fail with it (Redis away longer than a subscribe waits). */
  failing: Error | null = null;

  async subscribe(channels: FeedChannel[]): Promise<void> {
    const names = channels.map(feedChannelName);
    this.subscribeCalls.push(names);
    if (this.failing) throw this.failing;
    names.forEach((name) => this.channels.add(name));
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
  }

  async unsubscribe(channels: FeedChannel[]): Promise<void> {
    const names = channels.map(feedChannelName);
    this.unsubscribeCalls.push(names);
    names.forEach((name) => this.channels.delete(name));
  }

  async close(): Promise<void> {
    this.channels.clear();
  }

  readonly renewCalls: number[][] = [];
  private readonly dropped = new Set<string>();

  /** Redis drops a partition's subscriptions without a word: nothing on them reaches the feed any more. */
  dropSilently(partition: number): void {
    for (const name of [...this.channels]) {
      if (parseFeedChannelName(name)?.partition !== partition) continue;
      this.channels.delete(name);
      this.dropped.add(name);
    }
  }

  renew(partitions: readonly number[]): void {
    this.renewCalls.push([...partitions]);
    this.handlers.resubscribing(partitions);
    for (const name of [...this.dropped]) {
      if (!partitions.includes(parseFeedChannelName(name)!.partition)) continue;
      this.dropped.delete(name);
      this.channels.add(name);
    }
    this.handlers.resubscribed(partitions);
  }

  /** Confirms every subscribe waiting, and the ones after it at once. */
  confirm(): void {
    this.holding = false;
    this.held.splice(0).forEach((resolve) => resolve());
  }

  get waitingConfirmations(): number {
    return this.held.length;
  }
}

class FakeTransport extends EventTransport {
  constructor(private readonly fake: FakeSubscriber) {
    super();
  }
  async publish(): Promise<PublishOutcome> {
    throw new Error('receivers do not publish');
  }
  subscriber(handlers: FeedHandlers): FeedSubscriber {
    this.fake.handlers = handlers;
    return this.fake;
  }
}

/** A fresh copy of a row, as a transport or the outbox hands one over: what the feed writes on it stays there. */
function copy(record: RelayedRecord): RelayedRecord {
  return { ...record, messages: JSON.parse(JSON.stringify(record.messages)) as ChannelMessage[] };
}

/** The outbox and the chats' participants, in memory, read the way FeedStore reads PostgreSQL. */
class FakeFeedStore {
  readonly rows: RelayedRecord[] = [];
  readonly partitionOfChat = new Map<string, number>();
  readonly participants = new Map<string, Set<string>>();
  readonly calls = { partitionsOf: 0, chatsOf: 0, lastRows: 0, rowsAfter: 0, heads: 0 };
  pageRows = 2;

  async partitionsOf(chatIds: string[]): Promise<Map<string, number>> {
    this.calls.partitionsOf++;
    return new Map(chatIds.filter((id) => this.partitionOfChat.has(id)).map((id) => [id, this.partitionOfChat.get(id)!]));
  }

  /** When set, reading users' chats fails with it (PostgreSQL away). */
  chatsOfUsersFailing: Error | null = null;

  async chatsOfUsers(userIds: string[]): Promise<Map<string, Map<string, number>>> {
    this.calls.chatsOf++;
    if (this.chatsOfUsersFailing) throw this.chatsOfUsersFailing;
    return new Map(userIds.map((userId) => [
      userId,
      new Map([...this.participants].filter(([, users]) => users.has(userId)).map(([chatId]) => [chatId, this.partitionOfChat.get(chatId)!])),
    ]));
  }

  async startingPoints(
    chatIds: string[],
    users: string[],
    membershipSince: ReadonlyMap<string, string> = new Map(),
  ): Promise<Map<string, { lastRow: string; users: string[]; membershipUsers: string[] }>> {
    this.calls.lastRows++;
    const known = chatIds.filter((id) => this.partitionOfChat.has(id));
    const named = (id: string) => {
      const since = membershipSince.get(id);
      const changes = this.rows.filter((row) => since !== undefined && row.chatId === id && row.membership && compareCursors(row.position, since) > 0);
      return [...new Set(changes.flatMap((row) => row.messages.flatMap((message) => [...(message.meta.userIds ?? []), ...(message.meta.removedUserIds ?? [])])))];
    };
    return new Map(known.map((id) => [id, { lastRow: this.lastRow(id), users: users.filter((userId) => this.participants.get(id)?.has(userId)), membershipUsers: named(id) }]));
  }

  async heads(chatIds: string[]): Promise<Map<string, string>> {
    this.calls.heads++;
    return new Map(chatIds.map((id) => [id, this.lastRow(id)]));
  }

  async rowsAfter(
    chats: Map<string, string>,
    upTo: string,
    membership: { partition: number; after: string } | null = null,
  ): Promise<{ records: RelayedRecord[]; more: boolean; last: string | null }> {
    this.calls.rowsAfter++;
    let lowest = membership?.after ?? upTo;
    for (const from of chats.values()) if (compareCursors(from, lowest) < 0) lowest = from;
    const wanted = (row: RelayedRecord) => chats.has(row.chatId) || (membership !== null && row.membership && row.partition === membership.partition);
    const matching = this.rows.filter((row) => wanted(row) && compareCursors(row.position, lowest) > 0 && compareCursors(row.position, upTo) <= 0);
    const page = matching.slice(0, this.pageRows);
    const since = (row: RelayedRecord) => chats.get(row.chatId) ?? membership!.after;
    return {
      records: page.filter((row) => compareCursors(row.position, since(row)) > 0).map(copy),
      more: matching.length > page.length,
      last: page.length > 0 ? page[page.length - 1]!.position : null,
    };
  }

  lastRow(chatId: string): string {
    return [...this.rows].reverse().find((row) => row.chatId === chatId)?.position ?? NO_ROW;
  }

  /** The newest row of a partition, or of the whole outbox. */
  head(partition?: number): string {
    return [...this.rows].reverse().find((row) => partition === undefined || row.partition === partition)?.position ?? NO_ROW;
  }
}

interface Delivered {
  position: string;
  chatId: string;
  partition: number;
  /** Each message as `channel` or `channel:user,user` when it names users. */
  messages: string[];
}

const chatChannel = (partition: number, chatId: string) => feedChannelName({ kind: 'chat', partition, chatId });
const tickChannel = (partition: number) => feedChannelName({ kind: 'tick', partition });
const membersChannel = (partition: number) => feedChannelName({ kind: 'members', partition });

/** One receiver's feed between a fake transport and a fake outbox, with a relay the test drives by hand. */
class World {
  readonly store = new FakeFeedStore();
  readonly subscriber = new FakeSubscriber();
  readonly delivered: Delivered[] = [];
  readonly errors: unknown[] = [];
  readonly filled: { partition: number; rows: number; reason: string }[] = [];
  readonly silent: number[] = [];
  overflows = 0;
  readonly feed: InterestFeed;
  private next = 1;

  constructor(options: Partial<InterestFeedOptions> = {}) {
    this.feed = new InterestFeed(new FakeTransport(this.subscriber), this.store as unknown as FeedStore, {
      deliver: (record) => {
        this.delivered.push({
          position: record.position,
          chatId: record.chatId,
          partition: record.partition,
          messages: record.messages.map((message) => (message.meta.userIds ? `${message.channel}:${message.meta.userIds.join(',')}` : message.channel)),
        });
      },
      onError: (error) => this.errors.push(error),
      onFilled: (partition, rows, reason) => this.filled.push({ partition, rows, reason }),
      onOverflow: () => this.overflows++,
      onSilent: (partition) => this.silent.push(partition),
      partitions: 2,
      silentAfterMs: 60_000,
      ...options,
    });
  }

  // --- the relay's side: rows committed to the outbox ---

  private commit(chatId: string, membership: boolean, messages: ChannelMessage[]): RelayedRecord {
    const position = `7.${this.next++}`;
    for (const message of messages) message.meta.cursor = position;
    const record: RelayedRecord = { position, previous: this.store.lastRow(chatId), chatId, partition: this.store.partitionOfChat.get(chatId)!, membership, messages };
    this.store.rows.push(record);
    return copy(record);
  }

  private meta(chatId: string, extra: Partial<ChannelMessage['meta']> = {}): ChannelMessage['meta'] {
    return { eventId: `e${this.next}`, cursor: '', chatId, occurredAt: '2026-12-06T00:00:00.000Z', ...extra };
  }

  createChat(chatId: string, partition: number, participants: string[]): RelayedRecord {
    this.store.partitionOfChat.set(chatId, partition);
    this.store.participants.set(chatId, new Set(participants));
    return this.commit(chatId, true, [{ channel: 'chatAdded', payload: { id: chatId }, meta: this.meta(chatId, { userIds: [...participants] }) }]);
  }

  post(chatId: string, senderId: string): RelayedRecord {
    const listItem = { chatId, senderId, message: { chatId, senderId } };
    return this.commit(chatId, false, [
      { channel: 'messageAdded', payload: { chatId, senderId }, meta: this.meta(chatId) },
      { channel: 'chatMessageNotification', payload: listItem, meta: this.meta(chatId) },
      { channel: 'messageUpdateForChatList', payload: listItem, meta: this.meta(chatId) },
    ]);
  }

  add(chatId: string, userIds: string[]): RelayedRecord {
    const participants = this.store.participants.get(chatId)!;
    const existing = [...participants];
    userIds.forEach((userId) => participants.add(userId));
    return this.commit(chatId, true, [
      { channel: 'chatAdded', payload: { id: chatId }, meta: this.meta(chatId, { userIds }) },
      { channel: 'chatUpdated', payload: { id: chatId }, meta: this.meta(chatId, { userIds: existing }) },
    ]);
  }

  remove(chatId: string, userIds: string[]): RelayedRecord {
    const participants = this.store.participants.get(chatId)!;
    userIds.forEach((userId) => participants.delete(userId));
    return this.commit(chatId, true, [
      { channel: 'chatUpdated', payload: { id: chatId }, meta: this.meta(chatId, { userIds: [...participants, ...userIds], removedUserIds: userIds }) },
    ]);
  }

  // --- what the transport hands the feed ---

  /** A post published and heard, once the feed has handled it. */
  async postHeard(chatId: string, senderId: string): Promise<RelayedRecord> {
    const record = this.post(chatId, senderId);
    this.hear(record);
    await this.settled();
    return record;
  }

  /** A published row, on each of its channels the feed subscribed to (the chat's, then the membership channel). */
  hear(record: RelayedRecord): void {
    for (const channel of rowChannels(record)) if (this.subscriber.channels.has(feedChannelName(channel))) this.subscriber.handlers.row(copy(record));
  }

  /** A row heard whatever the feed subscribed (one in flight when an unsubscribe was sent). */
  hearAnyway(record: RelayedRecord): void {
    this.subscriber.handlers.row(copy(record));
  }

  tick(partition: number, head = this.store.head(partition)): void {
    if (this.subscriber.channels.has(tickChannel(partition))) this.subscriber.handlers.tick(partition, head);
  }

  /** Waits until the feed has handled everything it heard. */
  async settled(): Promise<void> {
    await eventually(() => expect(this.feed.backlog).toBe(0));
  }

  positions(chatId?: string): string[] {
    return this.delivered.filter((row) => chatId === undefined || row.chatId === chatId).map((row) => row.position);
  }

  /** Every row of the outbox of these chats, in order, from (after) a position. */
  outbox(chatIds: string[], after = NO_ROW): string[] {
    return this.store.rows.filter((row) => chatIds.includes(row.chatId) && compareCursors(row.position, after) > 0).map((row) => row.position);
  }

  /** The invariant every test ends with: nothing repeated, and each partition handed on in position order. */
  expectOrderedOnce(): void {
    const positions = this.positions();
    expect(new Set(positions).size).toBe(positions.length);
    for (const partition of new Set(this.delivered.map((row) => row.partition))) {
      const mine = this.delivered.filter((row) => row.partition === partition).map((row) => row.position);
      expect(mine).toEqual([...mine].sort(compareCursors));
    }
    expect(this.errors).toEqual([]);
  }
}

describe('InterestFeed', () => {
  let world: World;
  afterEach(async () => {
    await world.feed.stop();
  });

  it('hands each row on once, in order, and drops rows at or before the chat\'s last', async () => {
    // Given a chat with one row, followed
    world = new World();
    const created = world.createChat('A', 0, ['ann', 'bob']);
    expect(await world.feed.followChat('A')).toBe(0);
    expect(world.subscriber.subscribeCalls).toEqual([[chatChannel(0, 'A'), tickChannel(0)]]);

    // When its next rows are published, some of them twice, and its first row again
    const a2 = world.post('A', 'ann');
    const a3 = world.post('A', 'bob');
    world.hear(a2);
    world.hear(a3);
    world.hear(a3);
    world.hear(a2);
    world.hear(created);
    const a4 = await world.postHeard('A', 'ann');

    // Then each new row went out once, in order, with no fill needed
    expect(world.positions()).toEqual([a2.position, a3.position, a4.position]);
    expect(world.filled).toEqual([]);
    world.expectOrderedOnce();
  });

  it('drops a partition\'s rows after a broken link until a tick proves how far to read, then fills up to its head and goes on live', async () => {
    // Given two chats of partition 0, followed and in sync
    world = new World();
    world.createChat('A', 0, ['ann']);
    world.createChat('B', 0, ['bob']);
    await Promise.all([world.feed.followChat('A'), world.feed.followChat('B')]);
    const a2 = world.post('A', 'ann');
    world.hear(a2);

    // When a row of A is lost, the next one names it as previous, and rows of both chats come after it
    world.post('A', 'ann');
    const a4 = world.post('A', 'ann');
    const b2 = world.post('B', 'bob');
    const a5 = world.post('A', 'ann');
    world.hear(a4);
    world.hear(b2);
    world.hear(a5);
    await world.settled();

    // Then the partition is out of sync: nothing after the break goes out, B's row neither
    expect(world.positions()).toEqual([a2.position]);

    // When a row is committed after the tick's head, then the tick, then that row, arrive
    const head = world.store.head(0);
    const b3 = world.post('B', 'bob');
    world.tick(0, head);
    world.hear(b3);
    world.hear(a5);
    await world.settled();

    // Then the fill read both chats up to the head, in relay order, and the row after it came live, once
    expect(world.positions()).toEqual(world.outbox(['A', 'B'], world.store.rows[1]!.position));
    expect(world.positions().at(-1)).toBe(b3.position);
    expect(world.filled).toEqual([{ partition: 0, rows: 4, reason: expect.stringContaining(`row ${a4.position} of chat A follows`) }]);
    world.expectOrderedOnce();
  });

  it('counts no tick received before a subscribe of its partition was confirmed', async () => {
    // Given chat A followed, and its partition out of sync (a lost row)
    world = new World();
    world.createChat('A', 0, ['ann']);
    world.createChat('B', 0, ['bob']);
    await world.feed.followChat('A');
    world.post('A', 'ann');
    world.hear(world.post('A', 'ann'));
    await world.settled();

    // When chat B of the same partition is followed, and a tick arrives before its subscribe is confirmed
    world.subscriber.holding = true;
    const following = world.feed.followChat('B');
    await eventually(() => expect(world.subscriber.waitingConfirmations).toBe(1));
    world.tick(0);
    world.subscriber.confirm();
    expect(await following).toBe(0);
    await world.settled();

    // Then that tick proved nothing: no fill
    expect(world.filled).toEqual([]);
    expect(world.positions()).toEqual([]);

    // When a tick arrives after the confirmation
    world.tick(0);
    await world.settled();

    // Then it proves the partition: A's rows are filled
    expect(world.positions()).toEqual(world.outbox(['A'], world.store.rows[1]!.position));
    expect(world.filled).toHaveLength(1);
    world.expectOrderedOnce();
  });

  it('pays for a publish replayed out of order (an old row again, an early row ahead of its chain) with a catch-up, never a loss or a repeat', async () => {
    // Given two chats of one partition followed, and their next rows committed
    world = new World();
    world.createChat('A', 0, ['ann']);
    world.createChat('B', 0, ['bob']);
    await world.feed.followChat('A');
    await world.feed.followChat('B');
    const from = world.store.head(0);
    const a2 = world.post('A', 'ann');
    const b2 = world.post('B', 'bob');
    const a3 = world.post('A', 'ann');
    const b3 = world.post('B', 'bob');
    const a4 = world.post('A', 'ann');

    // When the first two arrive, then a replay sends an old row again and A's row ahead of the row before it,
    // and then the relay's publish goes on in order with its tick
    world.hear(a2);
    world.hear(b2);
    world.hear(a2);
    world.hear(a4);
    world.hear(a3);
    world.hear(b3);
    world.hear(a4);
    world.tick(0);
    await world.settled();

    // Then every row went out once, in position order
    expect(world.positions()).toEqual(world.outbox(['A', 'B'], from));
    expect(world.filled).toEqual([{ partition: 0, rows: 3, reason: expect.stringContaining(`row ${a4.position} of chat A`) }]);

    // And the replay's rows arriving again later change nothing
    [a2, b2, a3, b3, a4].forEach((row) => world.hear(row));
    world.tick(0);
    await world.settled();
    expect(world.positions()).toEqual(world.outbox(['A', 'B'], from));
    world.expectOrderedOnce();
  });

  it('names the local participants other than the sender on a followed user\'s post rows', async () => {
    // Given ann and bob followed here, in a chat with carol, who is not
    world = new World();
    world.createChat('A', 1, ['ann', 'bob', 'carol']);
    await world.feed.followUser('ann');
    await world.feed.followUser('bob');
    expect([...world.subscriber.channels].sort()).toEqual([chatChannel(1, 'A'), membersChannel(0), membersChannel(1), tickChannel(0), tickChannel(1)].sort());

    // When ann posts, then carol
    world.hear(world.post('A', 'ann'));
    world.hear(world.post('A', 'carol'));
    await world.settled();

    // Then the user-scoped messages name the local participants but the sender; the chat-scoped none
    expect(world.delivered.map((row) => row.messages)).toEqual([
      ['messageAdded', 'chatMessageNotification:bob', 'messageUpdateForChatList:bob'],
      ['messageAdded', 'chatMessageNotification:ann,bob', 'messageUpdateForChatList:ann,bob'],
    ]);
    world.expectOrderedOnce();
  });

  it('follows a chat a local user is added to from that very row, and hands on every row after it with no gap', async () => {
    // Given ann followed here, in no chat yet, and a chat of others in partition 1 with a row
    world = new World();
    await world.feed.followUser('ann');
    world.createChat('C', 1, ['xena', 'yves']);
    world.hear(world.post('C', 'xena'));

    // When ann is added (heard on the membership channel) while the chat's subscribe is not confirmed yet
    world.subscriber.holding = true;
    const added = world.add('C', ['ann']);
    world.hear(added);
    await world.settled();

    // Then its chatAdded went out at once, and the chat's channel is being subscribed
    expect(world.delivered).toEqual([{ position: added.position, chatId: 'C', partition: 1, messages: ['chatAdded:ann', 'chatUpdated:xena,yves'] }]);
    expect(world.subscriber.subscribeCalls.at(-1)).toEqual([chatChannel(1, 'C')]);

    // When a row is published before the channel's subscribe took effect (unheard), then a tick
    world.post('C', 'xena');
    world.tick(1);
    await world.settled();
    // Then a tick from before the subscribe's confirmation proves nothing
    expect(world.filled).toEqual([]);

    // When the subscribe is confirmed, another row is heard, and a tick
    world.subscriber.confirm();
    await eventually(() => expect(world.subscriber.waitingConfirmations).toBe(0));
    const c4 = world.post('C', 'yves');
    world.hear(c4);
    world.tick(1);
    await world.settled();

    // Then every row after the add went out, for ann
    expect(world.positions()).toEqual(world.outbox(['C'], world.store.rows[1]!.position));
    expect(world.delivered.at(-1)).toEqual({ position: c4.position, chatId: 'C', partition: 1, messages: ['messageAdded', 'chatMessageNotification:ann', 'messageUpdateForChatList:ann'] });
    expect(world.filled).toEqual([{ partition: 1, rows: 2, reason: expect.stringContaining('joined chat C') }]);

    // And the chat is followed live from here on
    const c5 = await world.postHeard('C', 'ann');
    expect(world.positions().at(-1)).toBe(c5.position);
    world.expectOrderedOnce();
  });

  it('does not hand on a join ahead of its partition\'s earlier rows while that partition is out of sync', async () => {
    // Given ann followed here, in chat A of partition 1, whose partition lost a row
    world = new World();
    world.createChat('A', 1, ['ann', 'bob']);
    world.createChat('C', 1, ['xena']);
    await world.feed.followUser('ann');
    const from = world.store.head(1);
    world.post('A', 'bob');
    world.hear(world.post('A', 'bob'));

    // When ann is added to chat C after those rows, and then a tick comes (after C's subscribe was confirmed)
    const added = world.add('C', ['ann']);
    world.hear(added);
    await world.settled();
    world.tick(1);
    await world.settled();

    // Then A's rows go out before the add, and ann is told of both chats
    expect(world.positions()).toEqual(world.outbox(['A', 'C'], from));
    expect(world.delivered.map((row) => row.messages[1])).toEqual(['chatMessageNotification:ann', 'chatMessageNotification:ann', 'chatUpdated:xena']);
    expect(world.delivered.at(-1)!.messages[0]).toBe('chatAdded:ann');

    // And C, subscribed by that fill, is live once a later tick proves it: its rows come to ann
    world.tick(1);
    await world.settled();
    world.hear(world.post('C', 'xena'));
    await world.settled();
    expect(world.delivered.at(-1)!.messages).toEqual(['messageAdded', 'chatMessageNotification:ann', 'messageUpdateForChatList:ann']);
    world.expectOrderedOnce();
  });

  it('keeps a user who is added, removed and added again while the partition is out of sync: the fill hands on each change in its place', async () => {
    // Given ann followed here, and her partition out of sync (a row of chat A lost)
    world = new World();
    world.createChat('A', 1, ['ann', 'bob']);
    await world.feed.followUser('ann');
    world.post('A', 'bob');
    world.hear(world.post('A', 'bob'));
    await world.settled();

    // When, before the next tick, a chat C is created with her, she is removed from it and added back,
    // with posts between (all heard, all dropped while out of sync)
    const created = world.createChat('C', 1, ['ann', 'xena']);
    world.hear(created);
    world.hear(world.post('C', 'xena'));
    world.hear(world.remove('C', ['ann']));
    world.hear(world.post('C', 'xena'));
    const readded = world.add('C', ['ann']);
    world.hear(readded);
    const after = await world.postHeard('C', 'xena');
    // and a tick proves them (C's first subscribe was confirmed)
    world.tick(1);
    await world.settled();

    // Then the fill handed on every change in order, and the rows she was in the chat for
    const forAnn = world.delivered.filter((row) => row.chatId === 'C').map((row) => [row.position, row.messages.join(' ')]);
    expect(forAnn).toEqual([
      [created.position, 'chatAdded:ann,xena'],
      [world.store.rows[4]!.position, 'messageAdded chatMessageNotification:ann messageUpdateForChatList:ann'],
      [world.store.rows[5]!.position, 'chatUpdated:xena,ann'],
      [readded.position, 'chatAdded:ann chatUpdated:xena'],
      [after.position, 'messageAdded chatMessageNotification:ann messageUpdateForChatList:ann'],
    ]);
    // And the chat, subscribed again after its removal, is filled once more after a tick that follows
    // that subscribe, and followed live from there
    world.tick(1);
    await world.settled();
    const live = await world.postHeard('C', 'xena');
    expect(world.delivered.at(-1)).toEqual({ position: live.position, chatId: 'C', partition: 1, messages: ['messageAdded', 'chatMessageNotification:ann', 'messageUpdateForChatList:ann'] });
    world.expectOrderedOnce();
  });

  it('reads, after a new connection, the membership rows it missed, so a local user added meanwhile to a chat not followed here is not lost', async () => {
    // Given ann followed here, in no chat of partition 1 yet
    world = new World();
    world.createChat('A', 0, ['ann']);
    await world.feed.followUser('ann');
    world.createChat('C', 1, ['xena']);

    // When the connection breaks, and meanwhile ann is added to C and someone posts there (unheard)
    world.subscriber.handlers.resubscribing();
    const added = world.add('C', ['ann']);
    const post = world.post('C', 'xena');
    world.subscriber.handlers.resubscribed();
    // and a tick after the new connection's subscribes proves partition 1
    world.tick(1);
    await world.settled();

    // Then the add was read from the outbox in its place, and the chat's rows after it: ann got chatAdded
    // and the post, and C is followed and subscribed
    expect(world.delivered).toEqual([
      { position: added.position, chatId: 'C', partition: 1, messages: ['chatAdded:ann', 'chatUpdated:xena'] },
      { position: post.position, chatId: 'C', partition: 1, messages: ['messageAdded', 'chatMessageNotification:ann', 'messageUpdateForChatList:ann'] },
    ]);
    expect(world.subscriber.subscribeCalls.at(-1)).toEqual([chatChannel(1, 'C')]);
    // And once a tick after that subscribe proves the chat, it is live
    world.tick(1);
    await world.settled();
    const live = await world.postHeard('C', 'xena');
    expect(world.positions().at(-1)).toBe(live.position);
    world.expectOrderedOnce();
  });

  it('hands a local user their add, the rows after it and their removal, all unheard, when another user\'s follow starts the chat from a snapshot that no longer names them', async () => {
    // Given ann followed here, and chat C of partition 1 with xena and dave, not followed here
    world = new World();
    world.createChat('A', 0, ['ann']);
    await world.feed.followUser('ann');
    world.createChat('C', 1, ['xena', 'dave']);

    // When the connection breaks, and meanwhile ann is added to C, xena posts there, and ann is removed
    // (all unheard); then dave's first user-scoped subscription starts here, which follows C from its
    // newest row, the removal, where ann is no participant
    world.subscriber.handlers.resubscribing();
    const added = world.add('C', ['ann']);
    const post = world.post('C', 'xena');
    const removal = world.remove('C', ['ann']);
    await world.feed.followUser('dave');
    world.subscriber.handlers.resubscribed();
    // and ticks after the new connection's subscribes prove partition 1
    world.tick(1);
    await world.settled();
    world.tick(1);
    await world.settled();

    // Then ann got her add, the post and her removal, in their places, read from the outbox
    expect(world.delivered.filter((row) => row.messages.some((message) => message.includes('ann')))).toEqual([
      { position: added.position, chatId: 'C', partition: 1, messages: ['chatAdded:ann', 'chatUpdated:xena,dave'] },
      { position: post.position, chatId: 'C', partition: 1, messages: ['messageAdded', 'chatMessageNotification:dave,ann', 'messageUpdateForChatList:dave,ann'] },
      { position: removal.position, chatId: 'C', partition: 1, messages: ['chatUpdated:xena,dave,ann'] },
    ]);
    // And C goes on live for dave alone
    const live = await world.postHeard('C', 'xena');
    expect(world.delivered.at(-1)).toEqual({ position: live.position, chatId: 'C', partition: 1, messages: ['messageAdded', 'chatMessageNotification:dave', 'messageUpdateForChatList:dave'] });
    world.expectOrderedOnce();
  });

  it('hands a local user\'s join on in its place when a chat-scoped subscription here starts following the chat before the join came through', async () => {
    // Given ann followed here, and a chat C she has just been added to, whose add the relay has not published yet
    world = new World();
    world.createChat('A', 0, ['ann']);
    await world.feed.followUser('ann');
    world.createChat('C', 1, ['xena']);
    const added = world.add('C', ['ann']);
    const early = world.post('C', 'xena');

    // When a chat-scoped subscription here needs C (whose newest row is already past the add), and the
    // rows arrive late, then a tick
    await world.feed.followChat('C');
    world.hear(added);
    world.hear(early);
    world.tick(1);
    await world.settled();

    // Then ann got the add and the post after it, in order, read from the outbox (the chat's rows before
    // her add are handed on too, to nobody here: chat-scoped subscriptions start after them)
    expect(world.delivered.filter((row) => row.messages.some((message) => message.includes('ann')))).toEqual([
      { position: added.position, chatId: 'C', partition: 1, messages: ['chatAdded:ann', 'chatUpdated:xena'] },
      { position: early.position, chatId: 'C', partition: 1, messages: ['messageAdded', 'chatMessageNotification:ann', 'messageUpdateForChatList:ann'] },
    ]);
    // And C is live for her from there
    const live = await world.postHeard('C', 'xena');
    expect(world.delivered.at(-1)!.messages).toEqual(['messageAdded', 'chatMessageNotification:ann', 'messageUpdateForChatList:ann']);
    world.expectOrderedOnce();
  });

  it('takes a starting user\'s place in a chat from the snapshot the chat is followed from: a removal committed while the chat\'s subscribe was on its way ends their posts', async () => {
    // Given ann followed here (so the membership channels are), and dave in chat A with carol, not followed here
    world = new World();
    world.createChat('Z', 0, ['ann']);
    await world.feed.followUser('ann');
    world.createChat('A', 1, ['dave', 'carol']);

    // When dave's first user-scoped subscription reads his chats, and dave is removed from A while the
    // subscribe of A's channel waits for Redis (so A's newest row, read after it, is the removal)
    world.subscriber.holding = true;
    const following = world.feed.followUser('dave');
    await eventually(() => expect(world.subscriber.waitingConfirmations).toBe(1));
    const removal = world.remove('A', ['dave']);
    world.hear(removal);
    world.subscriber.confirm();
    await following;
    await world.settled();

    // Then A's rows after the removal name nobody here: dave is not a participant of them
    const post = await world.postHeard('A', 'carol');
    expect(world.delivered.filter((row) => row.chatId === 'A').flatMap((row) => row.messages).filter((message) => message.includes('dave'))).toEqual([]);
    // And A, needed by nobody here, is not followed
    expect(world.feed.followedChats).toBe(1);
    world.expectOrderedOnce();
  });

  it('takes a starting user\'s place in a chat from the snapshot the chat is followed from: an add committed while the chat\'s subscribe was on its way starts their posts', async () => {
    // Given ann followed here (so the membership channels are), and bob in chat A with carol, not followed here
    world = new World();
    world.createChat('Z', 0, ['ann']);
    await world.feed.followUser('ann');
    world.createChat('A', 1, ['bob', 'carol']);

    // When bob's and dave's first user-scoped subscriptions come at once, and dave is added to A while the
    // subscribe of A's channel (for bob) waits for Redis (so A's newest row, read after it, is the add)
    world.subscriber.holding = true;
    const following = Promise.all([world.feed.followUser('bob'), world.feed.followUser('dave')]);
    await eventually(() => expect(world.subscriber.waitingConfirmations).toBe(1));
    const added = world.add('A', ['dave']);
    world.hear(added);
    world.subscriber.confirm();
    await following;
    await world.settled();

    // Then A's rows after the add name dave as well as bob
    const post = await world.postHeard('A', 'carol');
    expect(world.delivered.at(-1)).toEqual({ position: post.position, chatId: 'A', partition: 1, messages: ['messageAdded', 'chatMessageNotification:bob,dave', 'messageUpdateForChatList:bob,dave'] });
    world.expectOrderedOnce();
  });

  it('stays out of sync after a fill during which the connection was made again, so a join missed meanwhile is read at the next tick', async () => {
    // Given ann followed here, in chat A of partition 1, whose partition lost a row
    world = new World();
    world.createChat('A', 1, ['ann', 'bob']);
    world.createChat('C', 1, ['xena']);
    await world.feed.followUser('ann');
    world.post('A', 'bob');
    world.hear(world.post('A', 'bob'));
    await world.settled();

    // When a tick starts a fill whose reads wait (PostgreSQL slow), and meanwhile the connection to Redis
    // is made again, and ann is added to chat C while there was none (unheard)
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const rowsAfter = world.store.rowsAfter.bind(world.store);
    let reads = 0;
    world.store.rowsAfter = async (...args) => {
      reads++;
      await gate;
      return rowsAfter(...args);
    };
    world.tick(1);
    await eventually(() => expect(reads).toBe(1));
    world.subscriber.handlers.resubscribing();
    const added = world.add('C', ['ann']);
    world.subscriber.handlers.resubscribed();
    open();
    await world.settled();
    expect(world.filled).toHaveLength(1);

    // Then the next tick, after the new connection's subscribes, reads the join: ann gets it and C's rows
    world.tick(1);
    await world.settled();
    expect(world.delivered.find((row) => row.position === added.position)?.messages).toEqual(['chatAdded:ann', 'chatUpdated:xena']);
    world.expectOrderedOnce();
  });

  it('forgets a user whose follow failed in the chats rows had placed them in meanwhile, and unfollows those chats', async () => {
    // Given ann followed here (so the membership channels are), and chat C of others, not followed here
    world = new World();
    world.createChat('Z', 0, ['ann']);
    await world.feed.followUser('ann');
    world.createChat('C', 1, ['xena']);

    // When dave is added to C, heard just before dave's first user-scoped subscription asks to follow him,
    // and reading his chats fails (PostgreSQL away)
    const failure = new Error('database unavailable');
    world.store.chatsOfUsersFailing = failure;
    world.hear(world.add('C', ['dave']));
    const following = world.feed.followUser('dave');

    // Then his follow fails, and C, which only he needed, is not followed: nothing of it is addressed to him
    await expect(following).rejects.toBe(failure);
    await world.settled();
    expect(world.feed.followedChats).toBe(1);
    world.store.chatsOfUsersFailing = null;
    world.hearAnyway(world.post('C', 'xena'));
    await world.settled();
    expect(world.delivered.filter((row) => row.chatId === 'C').flatMap((row) => row.messages).filter((message) => message.includes('dave') && !message.startsWith('chatAdded'))).toEqual([]);
    world.expectOrderedOnce();
  });

  it('reports a failed subscribe of a joined chat, and stays out of sync', async () => {
    // Given ann followed here, and Redis away when she is added to a chat
    world = new World();
    world.createChat('C', 1, ['xena']);
    await world.feed.followUser('ann');
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const failure = new Error('Redis subscriber is reconnecting');
      world.subscriber.failing = failure;

      // When the add is heard
      world.hear(world.add('C', ['ann']));
      await world.settled();

      // Then the failure is reported (not left unhandled), and the partition waits for a tick to fill
      await eventually(() => expect(world.errors).toEqual([failure]));
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      world.subscriber.failing = null;
      world.hear(world.post('C', 'xena'));
      await world.settled();
      expect(world.positions()).toHaveLength(1);
      world.tick(1);
      await world.settled();
      expect(world.positions()).toEqual(world.outbox(['C'], world.store.rows[0]!.position));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('gives a removed user nothing after the removal, and unfollows the chat once nobody here needs it', async () => {
    // Given ann and bob followed here, in chat A with carol
    world = new World();
    world.createChat('A', 0, ['ann', 'bob', 'carol']);
    await world.feed.followUser('ann');
    await world.feed.followUser('bob');

    // When ann is removed, and carol posts
    world.hear(world.remove('A', ['ann']));
    world.hear(world.post('A', 'carol'));
    await world.settled();

    // Then the removal reached ann, and the post names only bob
    expect(world.delivered.map((row) => row.messages)).toEqual([
      ['chatUpdated:bob,carol,ann'],
      ['messageAdded', 'chatMessageNotification:bob', 'messageUpdateForChatList:bob'],
    ]);
    expect(world.subscriber.unsubscribeCalls).toEqual([]);

    // When bob is removed too
    const removal = world.remove('A', ['bob']);
    world.hear(removal);
    await world.settled();

    // Then the chat is unfollowed (its channel unsubscribed; the tick stays for the membership channels),
    // and a row still in flight goes nowhere
    expect(world.positions().at(-1)).toBe(removal.position);
    expect(world.subscriber.unsubscribeCalls).toEqual([[chatChannel(0, 'A')]]);
    expect(world.feed.followedChats).toBe(0);
    world.hearAnyway(world.post('A', 'carol'));
    await world.settled();
    expect(world.positions().at(-1)).toBe(removal.position);
    world.expectOrderedOnce();
  });

  it('drops what arrives past a full backlog and reads it from the outbox at the next tick', async () => {
    // Given a feed that holds at most 2 rows waiting
    world = new World({ maxBacklog: 2 });
    world.createChat('A', 0, ['ann']);
    await world.feed.followChat('A');
    await world.settled();
    const from = world.store.head(0);

    // When 5 rows and a tick arrive at once
    for (let i = 0; i < 5; i++) world.hear(world.post('A', 'ann'));
    world.tick(0);
    await world.settled();

    // Then 3 were dropped on arrival, and filled in order
    expect(world.overflows).toBe(3);
    expect(world.positions()).toEqual(world.outbox(['A'], from));
    expect(world.filled).toEqual([{ partition: 0, rows: 3, reason: 'the backlog was full' }]);
    world.expectOrderedOnce();
  });

  it('keeps every row dropped past a full backlog, also one dropped before an earlier drop was noted: a local user\'s join lost so is read at the next tick', async () => {
    // Given ann followed here, in no chat of partition 1, and a feed that holds at most 2 items waiting
    world = new World({ maxBacklog: 2 });
    world.createChat('A', 0, ['ann']);
    world.createChat('B', 0, ['bob']);
    await world.feed.followUser('ann');
    world.createChat('C', 1, ['xena']);

    // When the feed's work is held up (a subscribe Redis is slow to confirm; in a receiver cut off from
    // PostgreSQL, fills waiting for their deadlines) with its backlog full
    world.subscriber.holding = true;
    const following = world.feed.followChat('B');
    await eventually(() => expect(world.subscriber.waitingConfirmations).toBe(1));
    world.tick(0);
    // and partition 1 loses a membership row (someone else added to C), then a tick comes, which proves
    // the partition up to that row; and after it ann is added to C, also dropped, and another tick comes
    world.hear(world.add('C', ['yves']));
    world.tick(1);
    const added = world.add('C', ['ann']);
    world.hear(added);
    world.tick(1);
    expect(world.overflows).toBe(2);
    world.subscriber.confirm();
    await following;
    await world.settled();

    // Then the first tick filled the first drop, and the second tick the join, read in its place: ann got chatAdded
    expect(world.filled).toEqual([
      { partition: 1, rows: 0, reason: 'the backlog was full' },
      { partition: 1, rows: 1, reason: 'the backlog was full' },
    ]);
    expect(world.delivered.find((row) => row.position === added.position)?.messages).toEqual(['chatAdded:ann', 'chatUpdated:xena,yves']);
    // And C, subscribed by that fill, is live once a later tick proves it: its rows come to ann
    world.tick(1);
    await world.settled();
    const post = await world.postHeard('C', 'xena');
    expect(world.delivered.at(-1)).toEqual({ position: post.position, chatId: 'C', partition: 1, messages: ['messageAdded', 'chatMessageNotification:ann', 'messageUpdateForChatList:ann'] });
    world.expectOrderedOnce();
  });

  it('treats a new connection as a possible loss until a tick after its resubscribe is confirmed', async () => {
    // Given a followed chat in sync
    world = new World();
    world.createChat('A', 0, ['ann']);
    await world.feed.followChat('A');
    const from = world.store.head(0);
    world.hear(world.post('A', 'ann'));
    await world.settled();

    // When the connection is made again: a row goes unheard, a tick comes before the resubscribe is confirmed
    world.subscriber.handlers.resubscribing();
    world.post('A', 'ann');
    world.tick(0);
    await world.settled();
    expect(world.filled).toEqual([]);
    world.subscriber.handlers.resubscribed();
    const a4 = await world.postHeard('A', 'ann');

    // Then nothing goes out until a tick after the confirmation, which fills
    expect(world.positions()).toHaveLength(1);
    world.tick(0);
    await world.settled();
    expect(world.positions()).toEqual(world.outbox(['A'], from));
    expect(world.filled).toEqual([{ partition: 0, rows: 2, reason: 'a new connection to Redis' }]);
    world.expectOrderedOnce();
  });

  it('treats a partition without ticks as possibly missing rows', async () => {
    // Given a followed chat whose partition sends no tick
    world = new World({ silentAfterMs: 50 });
    world.createChat('A', 0, ['ann']);
    await world.feed.followChat('A');
    const from = world.store.head(0);

    // When it stays silent
    await eventually(() => expect(world.silent).toContain(0));

    // Then its rows wait for a tick, which fills them
    const a2 = await world.postHeard('A', 'ann');
    expect(world.positions()).toEqual([]);
    world.tick(0);
    await world.settled();
    expect(world.positions()).toEqual(world.outbox(['A'], from));
    expect(world.filled[0]).toEqual({ partition: 0, rows: 1, reason: 'no tick' });
    world.expectOrderedOnce();
  });

  it('subscribes a partition again when it waits out of sync and hears no tick, as when Redis dropped its subscription without a word', async () => {
    // Given a followed chat whose partition was resubscribed (a new connection), and then dropped by Redis without a word
    world = new World({ silentAfterMs: 50 });
    world.createChat('A', 0, ['ann']);
    await world.feed.followChat('A');
    const from = world.store.head(0);
    world.subscriber.handlers.resubscribing([0]);
    world.subscriber.handlers.resubscribed([0]);
    world.subscriber.dropSilently(0);
    const a2 = await world.postHeard('A', 'ann');
    world.tick(0);

    // When the partition stays silent past the bound
    await eventually(() => expect(world.subscriber.renewCalls).toContainEqual([0]));

    // Then it is subscribed again, and the next tick fills what it missed
    world.tick(0);
    await world.settled();
    expect(world.positions()).toEqual(world.outbox(['A'], from));
    expect(world.positions()).toContain(a2.position);
    world.expectOrderedOnce();
  });

  it('counts ticks as they arrive, not as the work before them ends: slow work here is not a silent partition', async () => {
    // Given a followed chat of partition 0, and ticks of every partition followed every few milliseconds
    world = new World({ silentAfterMs: 50 });
    world.createChat('A', 0, ['ann']);
    world.createChat('B', 1, ['bob']);
    await world.feed.followChat('A');
    // The relay's cadence, not a wait.
    const ticking = setInterval(() => [0, 1].forEach((partition) => world.tick(partition)), 10);
    try {
      // When the feed's work is held up for several silence bounds (a subscribe that Redis is slow to confirm)
      world.subscriber.holding = true;
      const following = world.feed.followChat('B');
      await eventually(() => expect(world.subscriber.waitingConfirmations).toBe(1));
      await eventually(() => expect(world.feed.backlog).toBeGreaterThan(20));
      world.subscriber.confirm();
      await following;
      await world.settled();
    } finally {
      clearInterval(ticking);
    }

    // Then no partition was taken for silent, and none needed a fill
    expect(world.silent).toEqual([]);
    expect(world.filled).toEqual([]);
    world.expectOrderedOnce();
  });

  it('follows many chats asked for at once with one subscribe and one read of their rows', async () => {
    // Given three chats of partition 0
    world = new World();
    for (const chatId of ['A', 'B', 'C']) world.createChat(chatId, 0, ['ann']);

    // When they, one of them twice, and a chat that does not exist are asked for at once
    const partitions = await Promise.all(['A', 'B', 'C', 'A', 'nope'].map((chatId) => world.feed.followChat(chatId)));

    // Then one subscribe and one read served them all
    expect(partitions).toEqual([0, 0, 0, 0, null]);
    expect(world.subscriber.subscribeCalls).toEqual([[chatChannel(0, 'A'), chatChannel(0, 'B'), chatChannel(0, 'C'), tickChannel(0)]]);
    expect(world.store.calls).toMatchObject({ partitionsOf: 1, lastRows: 1 });
    expect(world.feed.followedChats).toBe(3);

    // And A stays followed until both of its subscriptions are released
    world.feed.releaseChat('A');
    expect(world.subscriber.unsubscribeCalls).toEqual([]);
    world.feed.releaseChat('A');
    expect(world.subscriber.unsubscribeCalls).toEqual([[chatChannel(0, 'A')]]);
    world.expectOrderedOnce();
  });

  it('follows the chats of many users asked for at once with one read of their chats, one subscribe per partition and one read of their rows', async () => {
    // Given users whose chats share partitions and overlap
    world = new World();
    world.createChat('A', 0, ['ann', 'bob']);
    world.createChat('B', 1, ['bob', 'cid']);
    world.createChat('C', 1, ['cid']);

    // When their first user-scoped subscriptions come at once (bob's twice)
    const followed = Promise.all(['ann', 'bob', 'cid', 'bob'].map((userId) => world.feed.followUser(userId)));
    await followed;

    // Then one read of their chats and one of the chats' rows served them all, and one subscribe per partition
    expect(world.store.calls).toMatchObject({ chatsOf: 1, lastRows: 1 });
    const chatSubscribes = world.subscriber.subscribeCalls.filter((channels) => channels.some((channel) => channel.includes(':chat:')));
    expect(chatSubscribes).toHaveLength(2);
    expect(world.feed.followedChats).toBe(3);

    // And a chat stays followed while any of its users still needs it
    world.feed.releaseUser('bob');
    world.feed.releaseUser('bob');
    world.feed.releaseUser('cid');
    expect(world.subscriber.unsubscribeCalls.flat()).toEqual([chatChannel(1, 'B'), chatChannel(1, 'C')]);
    expect(world.feed.followedChats).toBe(1);
    world.expectOrderedOnce();
  });

  it('is caught up once every row committed before the call is handed on', async () => {
    // Given a followed chat and a row committed but not heard yet
    world = new World();
    world.createChat('A', 0, ['ann']);
    await world.feed.followChat('A');
    const a2 = world.post('A', 'ann');

    // Then it is not caught up before that row goes out, and is after
    let caughtUp = false;
    const waiting = world.feed.whenCaughtUp().then(() => (caughtUp = true));
    await eventually(() => expect(world.store.calls.heads).toBe(1));
    expect(caughtUp).toBe(false);
    world.hear(a2);
    await waiting;
    expect(world.positions()).toEqual([a2.position]);

    // And a row that never comes makes it fail, saying so
    world.post('A', 'ann');
    await expect(world.feed.whenCaughtUp(50)).rejects.toThrow(/did not catch up/);
    world.expectOrderedOnce();
  });
});
