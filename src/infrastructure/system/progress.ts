import { compareCursors } from '../../application';

/**
 * How far a reader of the commit order (relay, projection, receiver feed) has got, so that tests and
 * shutdown can wait for it to reach a point instead of polling its internals or sleeping.
 */
export class Progress {
  private position: string | null = null;
  private waiters: { target: string; resolve: () => void }[] = [];

  constructor(private readonly name: string) {}

  get current(): string | null {
    return this.position;
  }

  advance(position: string): void {
    if (this.position !== null && compareCursors(position, this.position) <= 0) return;
    this.position = position;
    const reached = this.waiters.filter((waiter) => compareCursors(waiter.target, position) <= 0);
    this.waiters = this.waiters.filter((waiter) => !reached.includes(waiter));
    for (const waiter of reached) waiter.resolve();
  }

  /** Resolves once the position is at or past `target`; rejects, naming the reader, after `timeoutMs`. */
  reached(target: string, timeoutMs: number): Promise<void> {
    if (this.position !== null && compareCursors(target, this.position) <= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        reject(new Error(`${this.name} did not reach ${target} within ${timeoutMs} ms (it is at ${this.position ?? 'nothing yet'})`));
      }, timeoutMs);
      const entry = {
        target,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(entry);
    });
  }
}

export const CAUGHT_UP_TIMEOUT_MS = 20_000;
