import type { FeedChannel } from '../realtime/feed-channels';
import type { RelayedRecord } from '../realtime/channels';
import type { EphemeralSignal } from './presence.port';

/**
 * What became of a publish. `fencedBy`: nothing went out, because a relay with a newer leadership epoch
 * for the partition has published through this transport since (docs/architecture.md, Leadership).
 */
export type PublishOutcome = { published: true } | { published: false; fencedBy: number };

export interface PublishOptions {
  /** The partition leader's epoch: published only if no newer epoch has published on the partition. */
  epoch?: number;
  /**
   * A progress tick after the rows: every row of the partition up to this position has been published
   * (DESIGN.md §3 "Progress ticks").
   */
  tick?: string;
}

/** What a receiver hears on the channels it follows, in the order Redis delivers it. */
export interface FeedHandlers {
  row(record: RelayedRecord): void;
  tick(partition: number, head: string): void;
  /**
   * A typing or presence signal heard on a chat's channel (DESIGN.md §10): at most once, no position,
   * never filled in when missed.
   */
  signal?(partition: number, chatId: string, signal: EphemeralSignal): void;
  /**
   * A connection was made again, or a partition's channels moved to another connection (a Redis Cluster
   * failover or slot migration), and the channels of `partitions` (every partition when omitted) are
   * being subscribed anew: whatever was published meanwhile was not heard. Called before the subscribes
   * are sent.
   */
  resubscribing(partitions?: readonly number[]): void;
  /** Those subscribes were confirmed: from here on nothing published on those partitions' channels is missed. */
  resubscribed(partitions?: readonly number[]): void;
  onError(error: unknown): void;
}

/** A receiver's subscription to the channels its clients need (DESIGN.md §4 "Interest, not broadcast"). */
export interface FeedSubscriber {
  /** Resolves once the transport has confirmed every channel: from then on nothing published on them is missed. */
  subscribe(channels: FeedChannel[]): Promise<void>;
  unsubscribe(channels: FeedChannel[]): Promise<void>;
  /**
   * Subscribes these partitions' channels again (through `resubscribing`/`resubscribed`): the receiver
   * heard no tick from them for too long while it waited for one. A subscription Redis dropped without
   * a word would otherwise leave them waiting for ever.
   */
  renew(partitions: readonly number[]): void;
  /** Channels subscribed now (for tests and metrics). */
  readonly channelCount: number;
  close(): Promise<void>;
}

/**
 * Carries relayed outbox rows from the relays to the receivers that follow their chats: in one process
 * a local bus, across instances Redis sharded pub/sub. Delivery may repeat a row; receivers drop
 * repeats by position.
 */
export abstract class EventTransport {
  /**
   * Resolves once the rows (all of one partition, in relay order) and the tick are handed to the
   * transport, in order. With `epoch`, all or nothing; an empty list with no tick then only claims the
   * epoch. Without it (replays) they are published unconditionally.
   */
  abstract publish(partition: number, records: RelayedRecord[], options?: PublishOptions): Promise<PublishOutcome>;
  /** A subscriber that hears nothing until it subscribes to channels. */
  abstract subscriber(handlers: FeedHandlers): FeedSubscriber;
}
