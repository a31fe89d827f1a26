import { compareCursors } from './cursor';

/**
 * Work done one item at a time in the order it was queued, with records dropped that are at or before
 * the newest position already handed on: how a receiver keeps relay order, exactly once, from the
 * transport through the gapless feed to the router. It counts what waits, so its owner can bound it.
 */
export class OrderedWork {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private last: string | null = null;

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Items queued and not yet done. */
  get length(): number {
    return this.waiting;
  }

  /** The newest position handed on, or null before the first. */
  get position(): string | null {
    return this.last;
  }

  /** Moves the position on (a record handed on by other means, e.g. read from the outbox); never back. */
  advance(position: string): void {
    if (this.last === null || compareCursors(position, this.last) > 0) this.last = position;
  }

  /**
   * Runs `work` for the record at `position` once everything queued before it is done, unless a record
   * at or after it has been handed on by then; `work` sees the position before it. The position moves
   * to the record's once the work is done.
   */
  runFor(position: string, work: (previous: string | null) => Promise<void> | void): Promise<void> {
    return this.run(async () => {
      if (this.last !== null && compareCursors(position, this.last) <= 0) return;
      await work(this.last);
      this.advance(position);
    });
  }

  /** Runs `work` after everything queued so far; answers its result, or undefined if it failed (reported). */
  run<T>(work: () => Promise<T> | T): Promise<T | undefined> {
    this.waiting++;
    const next = this.tail.then(work).then(
      (value) => {
        this.waiting--;
        return value;
      },
      (error: unknown) => {
        this.waiting--;
        this.onError(error);
        return undefined;
      },
    );
    this.tail = next;
    return next;
  }
}
