import { compareCursors } from '../../application';

/** A subscribe as the partition counts it: confirmations from before a new connection count for nothing. */
export interface SubscribeToken {
  generation: number;
}

/**
 * Whether a receiver has every row of one partition's followed chats (DESIGN.md §3 "Progress ticks").
 *
 * In sync, rows are handed on as they arrive. Out of sync (something may have been missed), rows are
 * dropped until a tick that proves completeness: one that arrived after every subscribe of the
 * partition was confirmed (Redis delivers a partition's messages in the order they were published, on
 * one connection, so a tick sent after the subscribe took effect follows every row it covers). The
 * receiver then reads the chats from the outbox up to the tick's head and is in sync again.
 */
export class FeedPartition {
  readonly chats = new Set<string>();
  /** Its tick channel is subscribed. */
  tickFollowed = false;
  inSync = true;
  /** A silence check of this partition waits in the feed's queue. */
  silenceQueued = false;
  /** Why it went out of sync, for the log. */
  reason: string | null = null;
  /**
   * While membership channels are followed: the position up to which every membership row of the
   * partition has been heard or read. A fill reads the membership rows after it as well as the followed
   * chats' rows, so a local user's join missed meanwhile (on a new connection, say) is not lost.
   */
  membershipSince: string | null = null;
  private generation = 0;
  private unconfirmed = 0;
  /** A tick proves completeness only if it was received after this receipt. */
  private provesAfter = 0;
  /** A row of this partition was dropped on arrival (backlog full) after the last item of it was queued. */
  private droppedSinceQueued = false;
  private lastTickAt = Date.now();
  private renewedAt = 0;
  /**
   * Counts every possible loss, also one while already out of sync: a fill proves the partition only
   * up to its tick's head, so a loss during the fill (a new connection, a failed subscribe) must keep
   * the partition out of sync after it.
   */
  private losses = 0;

  constructor(readonly partition: number) {}

  outOfSync(reason: string): void {
    this.losses++;
    if (!this.inSync) return;
    this.inSync = false;
    this.reason = reason;
  }

  /** Where the losses stand: a fill takes it before it reads, and hands it to `syncedUnlessLostSince`. */
  get lossMark(): number {
    return this.losses;
  }

  /**
   * In sync again after a fill, unless something may have been lost since the fill began: what that
   * lost may come after the fill's head, so the next tick that proves the partition reads it.
   */
  syncedUnlessLostSince(mark: number): void {
    if (this.losses !== mark) return;
    this.inSync = true;
    this.reason = null;
  }

  subscribing(): SubscribeToken {
    this.unconfirmed++;
    this.provesAfter = Number.POSITIVE_INFINITY;
    if (!this.tickFollowed) this.lastTickAt = Date.now();
    return { generation: this.generation };
  }

  /** A subscribe was answered (or failed); `receipts` counts what the transport had handed over by then. */
  confirmed(token: SubscribeToken, receipts: number): void {
    if (token.generation !== this.generation) return;
    this.unconfirmed = Math.max(0, this.unconfirmed - 1);
    if (this.unconfirmed === 0) this.provesAfter = receipts;
  }

  /** A new connection: every channel is subscribed again (one subscribe for all), anything may be missing. */
  resubscribing(): SubscribeToken {
    this.generation++;
    this.outOfSync('a new connection to Redis');
    this.unconfirmed = 0;
    return this.subscribing();
  }

  membershipHeardUpTo(head: string): void {
    if (this.membershipSince !== null && compareCursors(head, this.membershipSince) > 0) this.membershipSince = head;
  }

  tickProves(receipt: number): boolean {
    return this.unconfirmed === 0 && receipt > this.provesAfter;
  }

  heardTick(): void {
    this.lastTickAt = Date.now();
  }

  /**
   * Whether a silent partition that waits out of sync for a tick should have its subscription renewed
   * now: silent for `afterMs`, and not renewed in the last `afterMs` (a relay that is down keeps it
   * silent, and one renewal per period is enough).
   */
  renewDue(afterMs: number): boolean {
    const now = Date.now();
    if (this.inSync || now - this.lastTickAt <= afterMs || now - this.renewedAt <= afterMs) return false;
    this.renewedAt = now;
    return true;
  }

  silentFor(): number {
    return Date.now() - this.lastTickAt;
  }

  /**
   * A row was dropped on arrival: the next item queued for the partition carries the loss to its place.
   * Every drop is noted in its own place, not only the first of a run: the fill an earlier drop causes
   * proves the partition only up to its tick's head, and a row dropped after that tick lies beyond it.
   */
  lost(): void {
    this.droppedSinceQueued = true;
  }

  /** An item of the partition (a row, a tick) is queued: answers whether a row was dropped just before it. */
  queued(): boolean {
    const dropped = this.droppedSinceQueued;
    this.droppedSinceQueued = false;
    return dropped;
  }

  /**
   * Called for each item of the partition when its turn comes, with what `queued` answered for it: past
   * a dropped row, the partition is out of sync.
   */
  noteLoss(droppedBefore: boolean): void {
    if (droppedBefore) this.outOfSync('the backlog was full');
  }
}
