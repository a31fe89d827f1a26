import { Unavailable } from '../../application';

/**
 * Which failures of a PostgreSQL call mean "the database is down, unreachable or too slow" (retry
 * later: UNAVAILABLE) rather than a refusal of the statement itself. Errors reach us raw from
 * node-postgres, or copied into MikroORM's DriverException, which keeps their own properties
 * (`code`, `message`), so both are read the same way.
 */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the session was terminated
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '57014', // query_canceled: statement_timeout
  '25P03', // idle_in_transaction_session_timeout
]);

/** Insufficient resources (too many connections, out of memory or disk) and connection exceptions. */
const UNAVAILABLE_SQLSTATE_CLASSES = ['53', '08'];

/** Socket-level failures Node reports while connecting or talking. */
const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/** What node-postgres and knex say when a connection ends, never came up, or none is free in time. */
const LOST_CONNECTION = /Connection terminated|timeout expired|not queryable|Timeout acquiring a connection|Unable to acquire a connection|Connection ended unexpectedly/i;

/** The error as `Unavailable`, or null when it is something else (a refusal, a bug). */
export function asUnavailable(error: unknown): Unavailable | null {
  if (error instanceof Unavailable) return error;
  if (typeof error !== 'object' || error === null) return null;
  const { code, message, name, dependency, outcomeUnknown } = error as {
    code?: unknown; message?: unknown; name?: unknown; dependency?: unknown; outcomeUnknown?: unknown;
  };
  // Ours, copied by MikroORM into its own exception.
  if (code === 'UNAVAILABLE') return new Unavailable(typeof dependency === 'string' ? dependency : 'postgres', reasonOf(message), outcomeUnknown === true);
  if (isUnavailableCode(code) || name === 'KnexTimeoutError' || (typeof message === 'string' && LOST_CONNECTION.test(message))) {
    return new Unavailable('postgres', reasonOf(message));
  }
  return null;
}

/**
 * A session that ended (or stopped answering) while a statement was in flight: if that statement was a
 * COMMIT, it may have committed. A refusal of the statement by PostgreSQL (a constraint, a
 * serialisation failure) means it did not.
 */
export function isSessionLost(error: unknown): boolean {
  if (error instanceof Unavailable) return true;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
  }
  return isUnavailableCode(code) || (typeof message === 'string' && LOST_CONNECTION.test(message)) || code === undefined;
}

function isUnavailableCode(code: unknown): boolean {
  if (typeof code !== 'string') return false;
  return NETWORK_ERRNOS.has(code) || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SQLSTATE_CLASSES.some((prefix) => code.length === 5 && code.startsWith(prefix));
}

function reasonOf(message: unknown): string {
  const text = typeof message === 'string' ? message.split('\n')[0]! : 'the database did not answer';
  return text.replace(/^postgres is unavailable: /, '').replace(/; retry later$/, '');
}
