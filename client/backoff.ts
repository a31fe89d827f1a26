/** How long to wait before the next connection attempt. */
export interface BackoffOptions {
  /** Ceiling of the first retry (ms). */
  initialMs: number;
  /** The ceiling never grows past this (ms). */
  maxMs: number;
  /** A connection that stayed up this long (ms) counts as healthy: the next loss starts again from the first step. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 15_000, resetAfterMs: 5_000 };

/**
 * Exponential backoff with "equal jitter": the ceiling doubles per failed attempt up to `maxMs`, and
 * the wait is drawn between half the ceiling and the ceiling. The lower half keeps a client from
 * hammering a server that is down; the random half spreads the clients that one restart dropped at
 * once, so they do not all come back in the same millisecond.
 *
 * `attempt` counts failures since the last healthy connection (0 for the first retry); `random` is
 * `Math.random` in use and a fixed function in tests.
 */
export function reconnectDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
