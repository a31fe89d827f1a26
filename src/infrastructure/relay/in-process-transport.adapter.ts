import { EventTransport, type PublishOutcome, type RelayedRecord } from '../../application';

/**
 * The transport when every role runs in one process (no REDIS_URL): a synchronous local fan-out. There is
 * one relay per process and no leadership, so an epoch has nothing to be fenced against.
 */
export class InProcessTransport extends EventTransport {
  private readonly listeners = new Set<(record: RelayedRecord) => void>();

  constructor(private readonly onListenerError: (error: unknown) => void = () => undefined) {
    super();
  }

  async publish(records: RelayedRecord[]): Promise<PublishOutcome> {
    for (const record of records) {
      for (const listener of this.listeners) {
        // One failing receiver must not keep the record from the others.
        try {
          listener(record);
        } catch (error) {
          this.onListenerError(error);
        }
      }
    }
    return { published: true };
  }

  /** A bus in memory never misses a record, so `mayHaveMissed` is never called. */
  subscribe(listener: (record: RelayedRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
