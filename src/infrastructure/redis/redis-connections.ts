import type { RedisOptions } from 'ioredis';

/** Idle time before TCP keepalive probes start: a peer gone without a FIN is found on an idle connection too. */
const KEEPALIVE_DELAY_MS = 1000;
/** A TCP connect that takes longer is abandoned and retried with backoff. */
const CONNECT_TIMEOUT_MS = 2000;
/** A closing connection whose peer does not answer our FIN (a blackhole) is destroyed after this. */
const DISCONNECT_TIMEOUT_MS = 200;

/**
 * What every connection gets, so that nothing waits without a deadline (DESIGN.md §5). A command that
 * timed out is never sent again by ioredis on a new connection: its caller was told it failed (the relay
 * publishes again from its checkpoint; the subscriber subscribes afresh on every connection).
 */
export function connectionOptions(commandTimeoutMs: number): RedisOptions {
  return {
    retryStrategy: backoff,
    commandTimeout: commandTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
    keepAlive: KEEPALIVE_DELAY_MS,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    autoResendUnfulfilledCommands: false,
  };
}

export function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

function backoff(attempt: number): number {
  return Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
}
