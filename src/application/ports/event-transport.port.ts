import type { RelayedRecord } from '../realtime/channels';

/**
 * Carries relayed outbox rows from the relay to every receiver: in one process a local bus, across
 * instances Redis pub/sub. Delivery may repeat a record; receivers de-duplicate by position.
 */
export abstract class EventTransport {
  /** Resolves once the records are handed to the transport, in order. */
  abstract publish(records: RelayedRecord[]): Promise<void>;
  /** Calls `listener` for every record published from now on; returns the unsubscribe function. */
  abstract subscribe(listener: (record: RelayedRecord) => void): () => void;
}
