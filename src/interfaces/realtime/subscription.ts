import type { DocumentNode } from 'graphql';
import { compareCursors, PartitionVector, type ChannelMessage } from '../../application';
import type { SubscriptionField } from './subscription-fields';

/**
 * Subscribers that would receive the same bytes for the same message share a group: the payload is
 * executed and serialised once per group and message (DESIGN.md §4): an event costs one execution per
 * distinct selection, not one per subscriber.
 */
export interface PayloadGroup {
  key: string;
  /** Subscriptions here that share it (the router keeps one group object per key). */
  members: number;
  document: DocumentNode;
  operationName: string | null;
  variables: Record<string, unknown>;
  fieldName: string;
  /**
   * The payload's `cursor` is the subscription's own position after it (user-scoped kinds, DESIGN.md §4):
   * executed once with a placeholder that each subscriber's frame replaces.
   */
  positionCursor: boolean;
}

/** An error as a graphql-transport-ws `error` message carries it: always with `extensions.code`. */
export interface ClientError {
  message: string;
  extensions: { code: string } & Record<string, unknown>;
}

/** Where a subscription's frames go: its connection. */
export interface FrameSink {
  readonly viewerId: string;
  /**
   * Queues one text frame (a Buffer is its UTF-8, which may be shared by many subscribers); closes the
   * connection instead when its bounded send buffer is full.
   */
  send(frame: string | Buffer): void;
  /**
   * Null when a frame may go out now, else a promise that resolves once the client has read enough
   * (or the connection closed). Senders that can wait (history, held frames) wait on it, so a client
   * that keeps reading is never cut off (DESIGN.md §4).
   */
  writable(): Promise<void> | null;
  /** Ends one subscription from the server's side with an `error` message. */
  sendError(id: string, errors: ClientError[]): void;
  /** The server ended the subscription: the connection forgets it (the client sends no `complete`). */
  release(subscription: Subscription): void;
  /** Live messages wait while a subscription replays; past a bound the connection is cut off. */
  checkPending?(subscription: Subscription): void;
}

export class Subscription {
  /** Non-null while the subscriber is replaying history: live messages wait here meanwhile. */
  pending: ChannelMessage[] | null = null;
  /** False once completed, revoked or closed: nothing more may be sent for it. */
  active = true;
  /** The receiver follows what this subscription needs (see SubscriptionRouter.acquireInterest). */
  holdsInterest = false;
  /** Chat-scoped kinds: the cursor of the last event sent or passed (one chat, one order). */
  private lastCursor: string | null = null;
  /**
   * User-scoped kinds: one position per partition (DESIGN.md §4), since partitions interleave. Null until
   * the subscription knows where it starts: everything is new.
   */
  private vector: PartitionVector | null = null;
  /**
   * The position as of which the viewer was found to be a participant (chat-scoped subscriptions),
   * once the access re-check has answered: a removal at or before it is history, undone since.
   */
  private memberAsOf: string | null = null;
  /** Presence: each user's newest transition sent, made on first use. */
  private presenceVersions: Map<string, number> | null = null;
  /** Only for counts (orderedPer 'chat'), made on first use: most subscriptions never need it. */
  private lastSentByChat: Map<string, { cursor: string; payload: string }> | null = null;

  constructor(
    readonly id: string,
    readonly sink: FrameSink,
    readonly field: SubscriptionField,
    readonly group: PayloadGroup,
    readonly args: Record<string, unknown>,
    /** Where it hears from, on its field's channel: the chat (chat-scoped) or the viewer (user-scoped). */
    readonly target: string,
    /** Where it starts, when known at once (see `startAfter`). */
    after: string | null = null,
  ) {
    if (after !== null) this.startAfter(field.scope === 'user' ? { vector: PartitionVector.decode(after) ?? PartitionVector.at(after) } : { cursor: after });
  }

  get viewerId(): string {
    return this.sink.viewerId;
  }

  /**
   * Where it starts: a chat-scoped kind after one cursor of its chat, a user-scoped kind after a position
   * per partition. Counts resume with their current values (DESIGN.md §4), whatever cursor the client holds.
   */
  startAfter(start: { cursor: string | null } | { vector: PartitionVector }): void {
    if (this.field.orderedPer === 'chat') return;
    if ('vector' in start) this.vector = start.vector;
    else this.lastCursor = start.cursor;
  }

  /** At most once and in order: a message at or before what this subscriber already got is dropped. */
  isNew(message: ChannelMessage): boolean {
    if (this.field.accepts && !this.field.accepts(message, this.args, this.viewerId)) return false;
    if (this.field.ephemeral) return this.isNewSignal(message);
    if (this.field.orderedPer === 'chat') {
      // A corrected value may come under the same cursor (after a rebuild): send it, but not a repeat.
      const last = this.lastSentByChat?.get(message.meta.chatId);
      if (last === undefined) return true;
      const order = compareCursors(message.meta.cursor, last.cursor);
      return order > 0 || (order === 0 && stableJson(message.payload) !== last.payload);
    }
    if (this.field.scope === 'user') return this.vector === null || this.vector.isBefore(message.meta.partition ?? 0, message.meta.cursor);
    return this.lastCursor === null || compareCursors(message.meta.cursor, this.lastCursor) > 0;
  }

  markSent(message: ChannelMessage): void {
    if (this.field.ephemeral) {
      const { version } = message.meta;
      if (version !== undefined) (this.presenceVersions ??= new Map()).set(String(message.payload.userId), version);
      return;
    }
    if (this.field.orderedPer === 'chat') {
      (this.lastSentByChat ??= new Map()).set(message.meta.chatId, { cursor: message.meta.cursor, payload: stableJson(message.payload) });
    } else this.passedThrough(message.meta.cursor, message.meta.partition ?? 0);
  }

  /** A presence transition older than one already sent for its user is not news (announcements race). */
  private isNewSignal(message: ChannelMessage): boolean {
    const { version } = message.meta;
    if (version === undefined) return true;
    return version > (this.presenceVersions?.get(String(message.payload.userId)) ?? -Infinity);
  }

  /** The cursor a payload of a user-scoped kind carries: where this subscription stands after it. */
  position(): string {
    return (this.vector ?? PartitionVector.at('0.0')).encode();
  }

  /**
   * History has gone through this cursor (of this partition), sending or skipping what it held (what the
   * viewer may not see is skipped, not sent): a live copy of anything up to it that waited meanwhile is
   * not new.
   */
  passedThrough(cursor: string, partition: number): void {
    if (this.field.orderedPer === 'chat') return;
    if (this.field.scope === 'user') {
      (this.vector ??= PartitionVector.at('0.0')).advance(partition, cursor);
      return;
    }
    if (this.lastCursor === null || compareCursors(cursor, this.lastCursor) > 0) this.lastCursor = cursor;
  }

  /**
   * The viewer is a participant as of `asOf` (the re-check's snapshot). A subscription without `after`
   * is live from there: anything committed up to it, which a receiver still catching up may deliver
   * later, is not sent, since it may come from a time the viewer was not a participant.
   */
  confirmMembership(asOf: string, live: boolean): void {
    this.memberAsOf = asOf;
    if (live) this.passedThrough(asOf, 0);
  }

  /** Whether a removal at `cursor` ends this subscription: not one from before its membership was confirmed. */
  removedAt(cursor: string): boolean {
    return this.memberAsOf === null || compareCursors(cursor, this.memberAsOf) > 0;
  }

  /** The protocol frame, with the payload already serialised once for the whole group. */
  frame(payloadJson: string): string {
    return `{"id":${JSON.stringify(this.id)},"type":"next","payload":${payloadJson}}`;
  }
}

/** Key order differs between a payload built here and one read back from jsonb. */
function stableJson(payload: Record<string, unknown>): string {
  return JSON.stringify(payload, Object.keys(payload).sort());
}
