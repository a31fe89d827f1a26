import { OrderedWork, type RelayedRecord } from '../../application';
import type { OutboxReader } from '../relay/outbox-reader';
import { CAUGHT_UP_TIMEOUT_MS, Progress } from '../system/progress';

export interface GaplessFeedOptions {
  /** May answer a promise of the record's delivery: the feed waits for it before handing on the next. */
  deliver(record: RelayedRecord): void | Promise<void>;
  onError(error: unknown): void;
  onGapFilled?(records: number): void;
  /** Records arrived while MAX_BACKLOG waited: dropped, and read from the outbox once the backlog is through. */
  onOverflow?(): void;
  /** Records the feed may hold while delivery is behind (default MAX_BACKLOG). */
  maxBacklog?: number;
}

/** Beyond this many records waiting, a receiver stops holding what arrives and reads it from the outbox later. */
export const MAX_BACKLOG = 1000;

/**
 * What a receiver hands on: every relayed record once, in relay order, with nothing missing. Records
 * seen before are dropped by position; a record whose `previous` is not the last one delivered means
 * something was missed (a lost Redis message, a reconnect, a relay fail-over), and the missing rows
 * are read from the outbox before it is delivered (DESIGN.md §4: gaps are filled, never skipped).
 *
 * Backpressure (DESIGN.md §4): each record is handed on only once the one before is delivered, and at
 * most `maxBacklog` records wait meanwhile. What arrives beyond that is not held: one catch-up from
 * the outbox, queued behind the backlog, reads it a page at a time once the receiver is through. So no
 * queue in the receiver grows with the incoming rate.
 */
export class GaplessFeed {
  private readonly work: OrderedWork;
  private readonly progress = new Progress('receiver feed');
  private readonly maxBacklog: number;
  /** The catch-up queued and not yet begun: one is enough for any number of reasons to catch up. */
  private queuedCatchUp: Promise<void> | null = null;

  constructor(private readonly reader: OutboxReader, private readonly options: GaplessFeedOptions) {
    this.work = new OrderedWork((error) => options.onError(error));
    this.maxBacklog = options.maxBacklog ?? MAX_BACKLOG;
  }

  get position(): string | null {
    return this.work.position;
  }

  /** Records waiting to be handed on. */
  get backlog(): number {
    return this.work.length;
  }

  /**
   * Begins at the outbox as it stands: from here on nothing relayed may be missed, even what goes
   * by before the transport first connects (it is filled on the first record or catch-up).
   */
  start(): Promise<void> {
    return this.work.run(async () => {
      if (this.work.position !== null) return;
      const head = await this.reader.head();
      this.work.advance(head);
      this.progress.advance(head);
    }).then(() => undefined);
  }

  accept(record: RelayedRecord): void {
    if (this.work.length >= this.maxBacklog) {
      this.options.onOverflow?.();
      void this.catchUp();
      return;
    }
    void this.work.runFor(record.position, async (last) => {
      if (last !== null && record.previous !== last) await this.fill(record.position);
      await this.deliver(record);
    });
  }

  /**
   * Resolves once everything committed to the outbox before the call has been delivered here (it
   * comes through the transport, or through a gap fill or catch-up).
   */
  async whenCaughtUp(timeoutMs = CAUGHT_UP_TIMEOUT_MS): Promise<void> {
    await this.progress.reached(await this.reader.head(), timeoutMs);
  }

  /** After a reconnect or an overflow: whatever was committed since the last record may never come to us. */
  catchUp(): Promise<void> {
    this.queuedCatchUp ??= this.work.run(() => {
      this.queuedCatchUp = null;
      return this.work.position === null ? undefined : this.fill();
    }).then(() => undefined);
    return this.queuedCatchUp;
  }

  private async fill(before?: string): Promise<void> {
    let filled = 0;
    for (;;) {
      const { records, more } = await this.reader.page(this.work.position!, { before });
      for (const record of records) await this.deliver(record);
      filled += records.length;
      if (!more) break;
    }
    if (filled > 0) this.options.onGapFilled?.(filled);
  }

  private async deliver(record: RelayedRecord): Promise<void> {
    this.work.advance(record.position);
    await this.options.deliver(record);
    this.progress.advance(record.position);
  }
}
