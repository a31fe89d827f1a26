import type { RelayedRecord } from '../realtime/channels';

/**
 * What became of a publish. `fencedBy`: nothing went out, because a relay with a newer leadership epoch
 * has published through this transport since (docs/architecture.md, Leadership).
 */
export type PublishOutcome = { published: true } | { published: false; fencedBy: number };

/**
 * Carries relayed outbox rows from the relay to every receiver: in one process a local bus, across
 * instances Redis pub/sub. Delivery may repeat a record; receivers de-duplicate by position.
 */
export abstract class EventTransport {
  /**
   * Resolves once the records are handed to the transport, in order. With `epoch` (the relay leader's),
   * the transport publishes them only if no newer epoch has published, all or nothing; an empty list
   * then only claims the epoch. Without it (replays) they are published unconditionally.
   */
  abstract publish(records: RelayedRecord[], epoch?: number): Promise<PublishOutcome>;
  /**
   * Calls `listener` for every record published from now on, and `mayHaveMissed` whenever records may
   * have gone by unheard (the transport reconnected): the receiver then reads them from the store.
   * Returns the unsubscribe function.
   */
  abstract subscribe(listener: (record: RelayedRecord) => void, mayHaveMissed?: () => void): () => void;
}
