import {
  compareCursors,
  NO_ROW,
  OrderedWork,
  type ChannelMessage,
  type EphemeralSignal,
  type EventTransport,
  type PresenceSignal,
  type FeedChannel,
  type FeedSubscriber,
  type RelayedRecord,
} from '../../application';
import type { TypingSignal } from '../../domain';
import type { FeedStore } from './feed-store';
import { FeedPartition, type SubscribeToken } from './feed-partition';
import { CAUGHT_UP_TIMEOUT_MS } from '../system/progress';

export interface InterestFeedOptions {
  /** Hands a record on (to the router); the feed waits for it before the next. */
  deliver(record: RelayedRecord): void | Promise<void>;
  onError(error: unknown): void;
  /** A partition could not prove it had everything and was filled from the outbox (`rows` read). */
  onFilled?(partition: number, rows: number, reason: string): void;
  /** Records arrived while `maxBacklog` waited: dropped, and read from the outbox later. */
  onOverflow?(): void;
  /** A followed partition sent no tick for `silentAfterMs`. */
  onSilent?(partition: number): void;
  /** A partition out of sync heard no tick for `silentAfterMs` either: its subscription was renewed. */
  onRenewed?(partition: number): void;
  /** Every row handed to the feed by the transport, with whether a local client needed it (membership rows always are). */
  onHeard?(needed: boolean): void;
  /**
   * A typing signal of a followed chat, handed on in order with the chat's rows, and only while its
   * partition is in sync: a removal published before it has then been handed on, so a removed user's
   * subscription has ended before it could hear the signal.
   */
  onTyping?(signal: TypingSignal): void | Promise<void>;
  /**
   * A presence signal heard on a followed chat: `viewers` are the local users with user-scoped
   * subscriptions who are participants of it, the signal's subject left out.
   */
  onPresence?(signal: PresenceSignal, viewers: string[]): void | Promise<void>;
  /** The number of ordering partitions in force (membership channels are followed for each). */
  partitions: number;
  maxBacklog?: number;
  /** A followed partition without a tick for this long is treated as possibly missing rows (3000 ms). */
  silentAfterMs?: number;
}

/** One followed chat: where its rows stand here, and who here needs it. */
interface FollowedChat {
  chatId: string;
  partition: number;
  /** The position of the last row of this chat delivered here. */
  lastRow: string;
  /** Chat-scoped subscriptions here. */
  subscriptions: number;
  /** Users here with user-scoped subscriptions who are participants of the chat. */
  users: Set<string>;
}

interface FollowedUser {
  subscriptions: number;
  chats: Set<string>;
  /** Resolves once the user's chats are followed; every subscription of the user waits for it. */
  ready: Promise<void>;
}

/** Beyond this many records waiting, a receiver stops holding what arrives and reads it from the outbox later. */
export const MAX_BACKLOG = 1000;
const DEFAULT_SILENT_AFTER_MS = 3000;

/**
 * What a receiver hears and hands on (DESIGN.md §3–§4 "Interest, not broadcast"): the rows of the chats
 * its own clients need, each once, each chat in order, each partition in order, with nothing missing.
 *
 * Interest: a chat is followed while a chat-scoped subscription here needs it, or while a user here
 * with a user-scoped subscription is one of its participants; the feed subscribes to the chat's
 * channel, to its partition's tick channel and, while any user-scoped subscription is here, to every
 * partition's membership channel, which is how it learns that a local user joined a chat it does not
 * follow yet. It knows the local participants of each chat it follows and names them on posts, whose
 * rows carry no recipient list.
 *
 * Completeness, per partition (see FeedPartition): rows are handed on as they arrive while each one
 * links to the row delivered before it for its chat. Anything that may have lost a row (a link that
 * does not match, a new connection, a chat joined mid-stream, an overflowing backlog, a silent
 * partition) puts the partition out of sync: its rows are dropped until a tick arrives over a
 * subscription made before the tick was sent; that tick proves what was published up to its head, so
 * the feed reads the partition's followed chats from the outbox up to it, and is in sync again. A
 * partition's rows are never handed on out of order, so user-scoped positions (one per partition) hold.
 *
 * Everything runs one step at a time in arrival order (rows, ticks, follows, fills), so a follow and
 * a fill see exactly the rows before them.
 */
export class InterestFeed {
  private readonly work: OrderedWork;
  private readonly chats = new Map<string, FollowedChat>();
  private readonly users = new Map<string, FollowedUser>();
  private readonly partitions = new Map<number, FeedPartition>();
  private readonly subscriber: FeedSubscriber;
  private readonly maxBacklog: number;
  private readonly silentAfterMs: number;
  /** Counts what the transport handed over, so a tick can be placed against a subscribe's confirmation. */
  private receipts = 0;
  private membershipFollowed = false;
  private readonly pendingChatFollows = new Map<string, { resolve(partition: number | null): void; reject(error: unknown): void }[]>();
  private readonly pendingUsers = new Map<string, { user: FollowedUser; resolve(): void; reject(error: unknown): void }>();
  private readonly waiters = new Set<{ heads: Map<string, string>; resolve(): void }>();
  private readonly silenceTimer: NodeJS.Timeout;
  private stopped = false;

  constructor(transport: EventTransport, private readonly store: FeedStore, private readonly options: InterestFeedOptions) {
    this.work = new OrderedWork((error) => options.onError(error));
    this.maxBacklog = options.maxBacklog ?? MAX_BACKLOG;
    this.silentAfterMs = options.silentAfterMs ?? DEFAULT_SILENT_AFTER_MS;
    this.subscriber = transport.subscriber({
      row: (record) => this.heard(record),
      tick: (partition, head) => this.ticked(partition, head),
      signal: (partition, chatId, signal) => this.signalled(partition, chatId, signal),
      resubscribing: (partitions) => this.resubscribing(partitions),
      resubscribed: (partitions) => this.resubscribed(partitions),
      onError: options.onError,
    });
    this.silenceTimer = setInterval(() => this.checkSilence(), Math.min(1000, this.silentAfterMs));
    this.silenceTimer.unref();
  }

  /** Records waiting to be handed on. */
  get backlog(): number {
    return this.work.length;
  }

  get followedChats(): number {
    return this.chats.size;
  }

  get channelCount(): number {
    return this.subscriber.channelCount;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.silenceTimer);
    await this.subscriber.close();
  }

  /**
   * A chat-scoped subscription needs the chat: resolves with its partition once the feed hears every
   * row of it from now on (null: no such chat). Many calls at once share one subscribe and one read.
   */
  followChat(chatId: string): Promise<number | null> {
    const followed = this.chats.get(chatId);
    if (followed) {
      followed.subscriptions++;
      return Promise.resolve(followed.partition);
    }
    return new Promise((resolve, reject) => {
      const waiting = this.pendingChatFollows.get(chatId);
      if (waiting) waiting.push({ resolve, reject });
      else this.pendingChatFollows.set(chatId, [{ resolve, reject }]);
      if (this.pendingChatFollows.size === 1 && (waiting === undefined)) void this.work.run(() => this.followPendingChats());
    });
  }

  releaseChat(chatId: string): void {
    const chat = this.chats.get(chatId);
    if (!chat || chat.subscriptions === 0) return;
    chat.subscriptions--;
    this.unfollowIfUnneeded(chat);
  }

  /**
   * A user-scoped subscription needs every chat of its user, and the membership channels: resolves
   * once the feed hears every row of them from now on.
   */
  followUser(userId: string): Promise<void> {
    const followed = this.users.get(userId);
    if (followed) {
      followed.subscriptions++;
      return followed.ready;
    }
    const user = { subscriptions: 1, chats: new Set<string>() } as FollowedUser;
    this.users.set(userId, user);
    user.ready = new Promise<void>((resolve, reject) => {
      this.pendingUsers.set(userId, { user, resolve, reject });
      if (this.pendingUsers.size === 1) void this.work.run(() => this.followPendingUsers());
    });
    return user.ready;
  }

  releaseUser(userId: string): void {
    const user = this.users.get(userId);
    if (!user) return;
    if (--user.subscriptions > 0) return;
    this.forgetUser(userId, user);
    if (this.users.size === 0) this.unfollowMembership();
  }

  /** A user without a user-scoped subscription here any more: out of every chat's local participants. */
  private forgetUser(userId: string, user: FollowedUser): void {
    this.users.delete(userId);
    for (const chatId of user.chats) {
      const chat = this.chats.get(chatId);
      if (!chat) continue;
      chat.users.delete(userId);
      this.unfollowIfUnneeded(chat);
    }
  }

  /**
   * Resolves once every row committed before the call, of the chats followed at the call, has been
   * handed on here.
   */
  async whenCaughtUp(timeoutMs = CAUGHT_UP_TIMEOUT_MS): Promise<void> {
    const heads = await this.store.heads([...this.chats.keys()]);
    await new Promise<void>((resolve, reject) => {
      const waiter = { heads, resolve: () => {} };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`the receiver feed did not catch up within ${timeoutMs} ms`));
      }, timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
      this.checkWaiters();
    });
  }

  // --- what the transport hands over (synchronously, in the order Redis delivered it) ---

  private heard(record: RelayedRecord): void {
    ++this.receipts;
    const partition = this.partitionOf(record.partition);
    this.options.onHeard?.(record.membership || this.chats.has(record.chatId));
    if (this.work.length >= this.maxBacklog) {
      // Not held: the partition is read from the outbox once a tick proves how far to read.
      this.options.onOverflow?.();
      partition.lost();
      return;
    }
    const droppedBefore = partition.queued();
    void this.work.run(() => this.onRow(record, droppedBefore));
  }

  private ticked(partitionNumber: number, head: string): void {
    const receipt = ++this.receipts;
    const partition = this.partitionOf(partitionNumber);
    // Silence is about what Redis delivers: a tick waiting behind slow work here was heard all the same.
    partition.heardTick();
    const droppedBefore = partition.queued();
    void this.work.run(() => this.onTick(partitionNumber, head, receipt, droppedBefore));
  }

  /** At most once (DESIGN.md §10): with the backlog full, a signal is dropped, never read back later. */
  private signalled(partitionNumber: number, chatId: string, signal: EphemeralSignal): void {
    if (this.work.length >= this.maxBacklog || !this.chats.has(chatId)) return;
    void this.work.run(() => this.onSignal(partitionNumber, chatId, signal));
  }

  /** The tokens of the subscribes that a new connection makes for each partition's channels at once. */
  private readonly resubscribe = new Map<FeedPartition, SubscribeToken>();

  private resubscribing(partitions?: readonly number[]): void {
    for (const partition of this.named(partitions)) this.resubscribe.set(partition, partition.resubscribing());
  }

  private resubscribed(partitions?: readonly number[]): void {
    for (const partition of this.named(partitions)) {
      const token = this.resubscribe.get(partition);
      if (!token) continue;
      partition.confirmed(token, this.receipts);
      this.resubscribe.delete(partition);
    }
  }

  /** The partitions a transport names (those followed here), or all of them. */
  private named(partitions: readonly number[] | undefined): FeedPartition[] {
    if (!partitions) return [...this.partitions.values()];
    return partitions.flatMap((partition) => this.partitions.get(partition) ?? []);
  }

  // --- steps, one at a time ---

  private async onRow(record: RelayedRecord, droppedBefore: boolean): Promise<void> {
    const partition = this.partitionOf(record.partition);
    partition.noteLoss(droppedBefore);
    const chat = this.chats.get(record.chatId);
    // Out of sync, nothing is handed on: the next fill reads the chats and the membership rows in order.
    if (!partition.inSync) return;
    if (!chat) {
      if (record.membership && this.users.size > 0) await this.joinedElsewhere(record);
      this.handledInSync(partition, record);
      return;
    }
    if (compareCursors(record.position, chat.lastRow) > 0) {
      if (record.previous !== chat.lastRow) {
        partition.outOfSync(`row ${record.position} of chat ${chat.chatId} follows ${record.previous}, not ${chat.lastRow}`);
        return;
      }
      await this.deliver(chat, record);
    }
    this.handledInSync(partition, record);
  }

  private async onSignal(partitionNumber: number, chatId: string, signal: EphemeralSignal): Promise<void> {
    const chat = this.chats.get(chatId);
    if (!chat || chat.partition !== partitionNumber) return;
    if (signal.kind === 'typing') {
      if (this.partitionOf(partitionNumber).inSync) await this.options.onTyping?.(signal.typing);
      return;
    }
    const subject = signal.presence.userId;
    const viewers = [...chat.users].filter((userId) => userId !== subject);
    if (viewers.length > 0) await this.options.onPresence?.(signal.presence, viewers);
  }

  /**
   * In sync, a row's arrival proves every membership row of its partition before it was heard and
   * handled (a partition's rows come in order), as a tick does: a chat followed from now on need not
   * be read from further back for its membership rows.
   */
  private handledInSync(partition: FeedPartition, record: RelayedRecord): void {
    if (partition.inSync) partition.membershipHeardUpTo(record.position);
  }

  private async onTick(partitionNumber: number, head: string, receipt: number, droppedBefore: boolean): Promise<void> {
    const partition = this.partitionOf(partitionNumber);
    partition.noteLoss(droppedBefore);
    if (!partition.tickProves(receipt)) return;
    if (partition.inSync) {
      // Every membership row of the partition up to the tick was heard, in order.
      partition.membershipHeardUpTo(head);
      return;
    }
    const reason = partition.reason ?? 'out of sync';
    const mark = partition.lossMark;
    const { rows, joined } = await this.fill(partition, head);
    partition.membershipHeardUpTo(head);
    // A chat a local user joined during the fill was subscribed only now: what it published before that
    // took effect is proven by a later tick, after the subscribe was confirmed. Until then, out of sync.
    if (joined === null) partition.syncedUnlessLostSince(mark);
    else partition.reason = `a local user joined chat ${joined}`;
    this.options.onFilled?.(partitionNumber, rows, reason);
  }

  /**
   * Reads the partition's followed chats from the outbox up to `head`, in relay order, and hands the
   * rows on, with the partition's membership rows since it last knew it had them all: a row that adds
   * a local user to a chat not followed here is a join, handed on in its place, after which the reading
   * starts again from it with that chat too. A chat unfollowed during the fill (its last local user
   * removed) is still read to its end, so that a row adding one back is seen. Answers the rows handed
   * on, and the last chat joined (its channel was subscribed only now).
   */
  private async fill(partition: FeedPartition, head: string): Promise<{ rows: number; joined: string | null }> {
    let filled = 0;
    let joined: string | null = null;
    let floor: string | null = null;
    const reading = new Map<string, string>();
    for (;;) {
      for (const chatId of partition.chats) if (!reading.has(chatId)) reading.set(chatId, this.chats.get(chatId)!.lastRow);
      const after = (at: string) => (floor !== null && compareCursors(floor, at) > 0 ? floor : at);
      const from = new Map<string, string>();
      for (const [chatId, since] of reading) from.set(chatId, after(this.chats.get(chatId)?.lastRow ?? since));
      const membership = partition.membershipSince === null ? null : { partition: partition.partition, after: after(partition.membershipSince) };
      if (from.size === 0 && membership === null) return { rows: filled, joined };
      const page = await this.store.rowsAfter(from, head, membership);
      let restartAt: string | null = null;
      for (const record of page.records) {
        const chat = this.chats.get(record.chatId);
        if (chat) {
          if (compareCursors(record.position, chat.lastRow) <= 0) continue;
          await this.deliver(chat, record);
          filled++;
          continue;
        }
        if (!record.membership || !(await this.joinedElsewhere(record))) continue;
        filled++;
        joined = record.chatId;
        // The page holds none of that chat's other rows: read on from the join, with it.
        restartAt = record.position;
        break;
      }
      if (restartAt !== null) {
        floor = restartAt;
        continue;
      }
      if (!page.more || page.last === null) return { rows: filled, joined };
      floor = page.last;
    }
  }

  /**
   * Hands a row on, with its user-scoped messages addressed to the local participants, and keeps the
   * chat's local participants current from its membership changes.
   */
  private async deliver(chat: FollowedChat, record: RelayedRecord): Promise<void> {
    chat.lastRow = record.position;
    const removed: string[] = [];
    for (const message of record.messages) {
      message.meta.partition = chat.partition;
      if (message.channel === 'chatMessageNotification' || message.channel === 'messageUpdateForChatList') {
        if (message.meta.userIds === undefined) message.meta.userIds = this.othersThan(chat, message);
      } else if (message.channel === 'chatAdded') {
        for (const userId of message.meta.userIds ?? []) this.addLocalParticipant(chat, userId);
      } else if (message.meta.removedUserIds) {
        for (const userId of message.meta.removedUserIds) if (chat.users.has(userId)) removed.push(userId);
      }
    }
    await this.options.deliver(record);
    // After the removal itself went out: the removed user hears nothing more of the chat.
    for (const userId of removed) {
      chat.users.delete(userId);
      this.users.get(userId)?.chats.delete(chat.chatId);
    }
    if (removed.length > 0) this.unfollowIfUnneeded(chat);
    this.checkWaiters();
  }

  private othersThan(chat: FollowedChat, message: ChannelMessage): string[] {
    if (chat.users.size === 0) return [];
    const senderId = message.payload.senderId;
    return [...chat.users].filter((userId) => userId !== senderId);
  }

  private addLocalParticipant(chat: FollowedChat, userId: string): void {
    const user = this.users.get(userId);
    if (!user) return;
    chat.users.add(userId);
    user.chats.add(chat.chatId);
  }

  /**
   * A membership row of a chat not followed here, handed on in order (in sync, or by a fill): if it
   * adds a local user, the chat is followed from this very row (the user's chatAdded goes out now).
   * What the chat published before its channel's subscribe took effect went unheard, so its partition
   * is out of sync until a tick after that subscribe proves how far to read. Answers whether it did.
   */
  private async joinedElsewhere(record: RelayedRecord): Promise<boolean> {
    const added = record.messages
      .filter((message) => message.channel === 'chatAdded')
      .flatMap((message) => message.meta.userIds ?? [])
      .filter((userId) => this.users.has(userId));
    if (added.length === 0) return false;
    const chat = this.track(record.chatId, record.partition, record.previous);
    await this.deliver(chat, record);
    if (!this.chats.has(chat.chatId)) return true;
    this.partitionOf(record.partition).outOfSync(`a local user joined chat ${chat.chatId}`);
    // Not awaited (the rows behind it go on); a failure leaves the partition out of sync, and is reported.
    this.subscribe(record.partition, [{ kind: 'chat', partition: record.partition, chatId: chat.chatId }]).catch((error: unknown) => this.options.onError(error));
    return true;
  }

  private async followPendingChats(): Promise<void> {
    const pending = new Map(this.pendingChatFollows);
    this.pendingChatFollows.clear();
    const settle = (chatId: string, partition: number | null) => {
      for (const waiter of pending.get(chatId) ?? []) {
        const chat = this.chats.get(chatId);
        if (chat && partition !== null) chat.subscriptions++;
        waiter.resolve(partition);
      }
    };
    try {
      const fresh = [...pending.keys()].filter((chatId) => !this.chats.has(chatId));
      const partitions = await this.store.partitionsOf(fresh);
      await this.startFollowing(partitions, new Set());
      for (const chatId of pending.keys()) settle(chatId, this.chats.get(chatId)?.partition ?? null);
    } catch (error) {
      for (const waiters of pending.values()) for (const waiter of waiters) waiter.reject(error);
    }
  }

  /**
   * The users whose first user-scoped subscription came since the last time, all at once: one read of
   * their chats, one subscribe per partition, one read of the chats' newest rows, however many users
   * (thousands of clients reconnecting after a receiver restart cost a few round trips).
   */
  private async followPendingUsers(): Promise<void> {
    const pending = new Map(this.pendingUsers);
    this.pendingUsers.clear();
    const partitions = new Map<string, number>();
    try {
      // Membership channels first: a chat a user joins from here on is heard of there.
      await this.followMembership();
      const chatsByUser = await this.store.chatsOfUsers([...pending.keys()]);
      for (const chats of chatsByUser.values()) for (const [chatId, partition] of chats) partitions.set(chatId, partition);
      const started = await this.startFollowing(partitions, new Set(pending.keys()));
      for (const [userId, { user, resolve }] of pending) {
        if (this.users.get(userId) === user) this.joinFollowedChats(userId, chatsByUser.get(userId), started);
        resolve();
      }
    } catch (error) {
      // Rows handed on while the follow ran may have placed them in chats already (joins, say).
      for (const [userId, { user, reject }] of pending) {
        if (this.users.get(userId) === user) this.forgetUser(userId, user);
        reject(error);
      }
    } finally {
      // This batch's chats, followed for users who left meanwhile or whose follow failed, are not kept.
      for (const chatId of partitions.keys()) {
        const chat = this.chats.get(chatId);
        if (chat) this.unfollowIfUnneeded(chat);
      }
      if (this.users.size === 0) this.unfollowMembership();
    }
  }

  /**
   * A starting user's place in the chats that were followed here already (read at `chats`' snapshot,
   * before the follow): their rows after that snapshot come in order, and the membership rows among them
   * keep the user's place current. The chats this follow started (`started`) took their users from
   * their own starting snapshot instead.
   */
  private joinFollowedChats(userId: string, chats: Map<string, number> | undefined, started: Set<string>): void {
    for (const chatId of chats?.keys() ?? []) {
      const chat = this.chats.get(chatId);
      if (chat && !started.has(chatId)) this.addLocalParticipant(chat, userId);
    }
  }

  /**
   * Follows chats not followed yet: subscribes to their channels, and once Redis has confirmed, reads
   * their newest rows. Every row after that comes through the channel, every row before it is history.
   * Which of the `starting` users (whose user-scoped subscriptions begin now) are participants is read
   * in that same snapshot: their chats were read before the subscribe, and a removal or an add committed
   * between the two reads is history to a chat followed from its newest row, never applied here.
   * Answers the chats it started to follow.
   *
   * Unless a local user with a user-scoped subscription (other than `starting`) may be owed some of its
   * rows: one is a participant (a chat of theirs not followed here means their join has not come
   * through the partition's stream yet, and its rows from that join on are theirs), or a membership row
   * of the chat that this feed has not handled yet (after the partition's `membershipSince`) names one:
   * it may add them and a later one remove them again before the newest row, and they are owed the rows
   * in between, though the snapshot no longer names them. Such a chat is read from where
   * the partition last knew it had every membership row, by the partition's next fill, in the
   * partition's order (the join then goes out in its place; the starting users' membership rows after
   * that point are applied again in their place, which leaves them where the snapshot put them).
   */
  private async startFollowing(partitions: Map<string, number>, starting: Set<string>): Promise<Set<string>> {
    const started = new Set<string>();
    const fresh = [...partitions].filter(([chatId]) => !this.chats.has(chatId));
    if (fresh.length === 0) return started;
    const byPartition = new Map<number, FeedChannel[]>();
    for (const [chatId, partition] of fresh) {
      let channels = byPartition.get(partition);
      if (!channels) byPartition.set(partition, (channels = []));
      channels.push({ kind: 'chat', partition, chatId });
    }
    await Promise.all([...byPartition].map(([partition, channels]) => this.subscribe(partition, channels)));
    // A local user with a user-scoped subscription who is not starting now: such a user may be owed rows.
    const other = (userId: string) => !starting.has(userId) && this.users.has(userId);
    // Membership rows not handled yet matter only when there is such a user.
    const unhandledSince = new Map<string, string>();
    if ([...this.users.keys()].some(other)) {
      for (const [chatId, partition] of fresh) {
        const since = this.partitionOf(partition).membershipSince;
        if (since !== null) unhandledSince.set(chatId, since);
      }
    }
    const starts = await this.store.startingPoints(fresh.map(([chatId]) => chatId), [...this.users.keys()], unhandledSince);
    for (const [chatId, partitionNumber] of fresh) {
      if (this.chats.has(chatId)) continue;
      const start = starts.get(chatId);
      const participants = start?.users ?? [];
      const partition = this.partitionOf(partitionNumber);
      let chat: FollowedChat;
      const othersMayBeOwed = participants.some(other) || (start?.membershipUsers ?? []).some(other);
      if (othersMayBeOwed && partition.membershipSince !== null) {
        chat = this.track(chatId, partitionNumber, partition.membershipSince);
        partition.outOfSync(`chat ${chatId} may hold a local user's membership rows not handled here yet`);
      } else {
        chat = this.track(chatId, partitionNumber, start?.lastRow ?? NO_ROW);
      }
      for (const userId of participants) if (starting.has(userId)) this.addLocalParticipant(chat, userId);
      started.add(chatId);
    }
    return started;
  }

  private track(chatId: string, partitionNumber: number, lastRow: string): FollowedChat {
    const chat: FollowedChat = { chatId, partition: partitionNumber, lastRow, subscriptions: 0, users: new Set() };
    this.chats.set(chatId, chat);
    this.partitionOf(partitionNumber).chats.add(chatId);
    return chat;
  }

  private unfollowIfUnneeded(chat: FollowedChat): void {
    if (chat.subscriptions > 0 || chat.users.size > 0 || this.chats.get(chat.chatId) !== chat) return;
    this.chats.delete(chat.chatId);
    const partition = this.partitionOf(chat.partition);
    partition.chats.delete(chat.chatId);
    const channels: FeedChannel[] = [{ kind: 'chat', partition: chat.partition, chatId: chat.chatId }];
    if (partition.chats.size === 0 && !this.membershipFollowed) {
      channels.push({ kind: 'tick', partition: chat.partition });
      partition.tickFollowed = false;
    }
    this.subscriber.unsubscribe(channels).catch((error: unknown) => this.options.onError(error));
  }

  private async followMembership(): Promise<void> {
    if (this.membershipFollowed) return;
    const all = Array.from({ length: this.options.partitions }, (_, partition) => partition);
    await Promise.all(all.map((partition) => this.subscribe(partition, [{ kind: 'members', partition }])));
    // From here on every membership row is heard, or read by a fill from where the partition last knew
    // it had them all. The users' chats are read after this, so nothing before it is needed.
    const head = await this.store.head();
    for (const partition of all) this.partitionOf(partition).membershipSince ??= head;
    this.membershipFollowed = true;
  }

  private unfollowMembership(): void {
    if (!this.membershipFollowed) return;
    this.membershipFollowed = false;
    for (const partition of this.partitions.values()) partition.membershipSince = null;
    const channels: FeedChannel[] = [];
    for (let partition = 0; partition < this.options.partitions; partition++) {
      channels.push({ kind: 'members', partition });
      const state = this.partitions.get(partition);
      if (state && state.chats.size === 0 && state.tickFollowed) {
        channels.push({ kind: 'tick', partition });
        state.tickFollowed = false;
      }
    }
    this.subscriber.unsubscribe(channels).catch((error: unknown) => this.options.onError(error));
  }

  /** Subscribes a partition's channels (with its tick channel), counting the confirmation a tick must follow. */
  private subscribe(partitionNumber: number, channels: FeedChannel[]): Promise<void> {
    const partition = this.partitionOf(partitionNumber);
    const all = partition.tickFollowed ? channels : [...channels, { kind: 'tick', partition: partitionNumber } as FeedChannel];
    const token = partition.subscribing();
    partition.tickFollowed = true;
    return this.subscriber.subscribe(all).then(
      () => partition.confirmed(token, this.receipts),
      (error: unknown) => {
        partition.confirmed(token, this.receipts);
        partition.outOfSync('a subscribe failed');
        throw error;
      },
    );
  }

  private partitionOf(partition: number): FeedPartition {
    let state = this.partitions.get(partition);
    if (!state) this.partitions.set(partition, (state = new FeedPartition(partition)));
    return state;
  }

  private checkSilence(): void {
    if (this.stopped) return;
    for (const partition of this.partitions.values()) {
      if (!partition.tickFollowed) continue;
      if (partition.renewDue(this.silentAfterMs)) {
        // Out of sync and still no tick to prove it again: if Redis dropped the subscription without a
        // word, none would ever come. Subscribing again costs one command.
        this.subscriber.renew([partition.partition]);
        this.options.onRenewed?.(partition.partition);
        continue;
      }
      if (partition.silentFor() > this.silentAfterMs && partition.inSync && !partition.silenceQueued) {
        // One check waiting at a time, and the silence looked at again when its turn comes: a tick may
        // have come meanwhile, and a partition a fill has just proved must not be put out of sync again.
        partition.silenceQueued = true;
        void this.work.run(() => {
          partition.silenceQueued = false;
          if (!partition.inSync || partition.silentFor() <= this.silentAfterMs) return;
          partition.outOfSync('no tick');
          this.options.onSilent?.(partition.partition);
        });
      }
    }
  }

  private checkWaiters(): void {
    for (const waiter of this.waiters) {
      let caughtUp = true;
      for (const [chatId, head] of waiter.heads) {
        const chat = this.chats.get(chatId);
        if (chat && compareCursors(chat.lastRow, head) < 0) {
          caughtUp = false;
          break;
        }
      }
      if (caughtUp) waiter.resolve();
    }
  }
}
