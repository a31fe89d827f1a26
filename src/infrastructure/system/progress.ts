/**
 * How long a wait for a reader of the commit order (the relay, a receiver's feed) to reach a point may
 * take before it fails, naming the reader: tests and shutdown wait on progress instead of polling.
 */
export const CAUGHT_UP_TIMEOUT_MS = 20_000;
