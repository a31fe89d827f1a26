import { compareCursors, type RelayedRecord } from '../../application';
import type { OutboxReader } from '../relay/outbox-reader';
import { CAUGHT_UP_TIMEOUT_MS, Progress } from '../system/progress';

export interface GaplessFeedOptions {
  /** May answer a promise of the record's delivery: a backlog read from the outbox waits for it per page. */
  deliver(record: RelayedRecord): void | Promise<void>;
  onError(error: unknown): void;
  onGapFilled?(records: number): void;
}

/**
 * What a receiver hands on: every relayed record once, in relay order, with nothing missing. Records
 * seen before are dropped by position; a record whose `previous` is not the last one delivered means
 * something was missed (a lost Redis message, a reconnect, a relay fail-over), and the missing rows
 * are read from the outbox before it is delivered (DESIGN.md §4: gaps are filled, never skipped).
 */
export class GaplessFeed {
  private lastPosition: string | null = null;
  private tail: Promise<void> = Promise.resolve();
  private readonly progress = new Progress('receiver feed');

  constructor(private readonly reader: OutboxReader, private readonly options: GaplessFeedOptions) {}

  get position(): string | null {
    return this.lastPosition;
  }

  /**
   * Begins at the outbox as it stands: from here on nothing relayed may be missed, even what goes
   * by before the transport first connects (it is filled on the first record or catch-up).
   */
  start(): Promise<void> {
    return this.enqueue(async () => {
      if (this.lastPosition !== null) return;
      this.lastPosition = await this.reader.settledHead();
      this.progress.advance(this.lastPosition);
    });
  }

  accept(record: RelayedRecord): void {
    this.enqueue(async () => {
      if (this.lastPosition !== null && compareCursors(record.position, this.lastPosition) <= 0) return;
      if (this.lastPosition !== null && record.previous !== this.lastPosition) {
        await this.fill(record.position);
      }
      this.deliver(record);
    });
  }

  /**
   * Resolves once everything committed to the outbox before the call has been delivered here (it
   * comes through the transport, or through a gap fill or catch-up).
   */
  async whenCaughtUp(timeoutMs = CAUGHT_UP_TIMEOUT_MS): Promise<void> {
    await this.progress.reached(await this.reader.committedHead(), timeoutMs);
  }

  /** After a reconnect: whatever was committed since the last record may never be relayed to us. */
  catchUp(): Promise<void> {
    return this.enqueue(() => (this.lastPosition === null ? undefined : this.fill()));
  }

  private async fill(before?: string): Promise<void> {
    let filled = 0;
    for (;;) {
      const { records, more } = await this.reader.page(this.lastPosition!, { before });
      let delivered: void | Promise<void> = undefined;
      for (const record of records) delivered = this.deliver(record);
      // Keeps at most one page of a long backlog (bounded in rows and bytes) queued in memory.
      await delivered;
      filled += records.length;
      if (!more) break;
    }
    if (filled > 0) this.options.onGapFilled?.(filled);
  }

  private deliver(record: RelayedRecord): void | Promise<void> {
    this.lastPosition = record.position;
    const delivered = this.options.deliver(record);
    if (!delivered) {
      this.progress.advance(record.position);
      return;
    }
    return delivered.then(() => this.progress.advance(record.position));
  }

  private enqueue(work: () => Promise<void> | void): Promise<void> {
    const next = this.tail.then(work).catch((error: unknown) => this.options.onError(error));
    this.tail = next;
    return next;
  }
}
