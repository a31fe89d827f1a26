import { Unavailable } from '../../application';

// Which failures of a PostgreSQL call mean "the database is down, unreachable or too slow" (retry
// later: UNAVAILABLE) rather than a refusal of the statement itself. Errors reach us raw from
// node-postgres, or copied into MikroORM's DriverException, which keeps their own properties
// (`code`, `message`), so both are read the same way.

/** Socket-level failures Node reports while connecting or talking, and what a client is told of each. */
const NETWORK_ERRNOS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ECONNABORTED: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'host unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
};

const SQLSTATE_REASONS: Record<string, string> = {
  '57P01': 'the session was terminated',
  '57P02': 'the server is restarting',
  '57P03': 'the server is starting or stopping',
  '57014': 'a statement timed out',
  '25P03': 'the session timed out',
};

/** What node-postgres and knex say when a connection ends, never came up, or none is free in time. */
const LOST_CONNECTION: [RegExp, string][] = [
  [/Connection terminated due to connection timeout|timeout expired/i, 'no connection within the connect timeout'],
  [/Timeout acquiring a connection|Unable to acquire a connection/i, 'no free connection in time'],
  [/Connection terminated|not queryable|Connection ended unexpectedly/i, 'the connection was lost'],
];

/**
 * The error as `Unavailable`, or null when it is something else (a refusal, a bug). The reason given
 * is one of ours: a driver's message may carry the statement (knex prefixes it), which clients must
 * never see.
 */
export function asUnavailable(error: unknown): Unavailable | null {
  if (typeof error !== 'object' || error === null) return null;
  const { code, message, name, dependency, reason, outcomeUnknown } = error as {
    code?: unknown; message?: unknown; name?: unknown; dependency?: unknown; reason?: unknown; outcomeUnknown?: unknown;
  };
  // Ours, possibly copied by MikroORM into its own exception, its message changed by knex: made anew.
  if (error instanceof Unavailable || code === 'UNAVAILABLE') {
    return new Unavailable(typeof dependency === 'string' ? dependency : 'postgres', typeof reason === 'string' ? reason : 'no answer', outcomeUnknown === true);
  }
  const known = reasonOf(code, name, message);
  return known ? new Unavailable('postgres', known) : null;
}

/**
 * A session that ended (or stopped answering) while a statement was in flight: if that statement was a
 * COMMIT, it may have committed. A refusal of the statement by PostgreSQL (a constraint, a
 * serialisation failure) means it did not.
 */
export function isSessionLost(error: unknown): boolean {
  if (error instanceof Unavailable) return true;
  const { code, message, name } = (error ?? {}) as { code?: unknown; message?: unknown; name?: unknown };
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
  }
  return code === undefined || reasonOf(code, name, message) !== null;
}

function reasonOf(code: unknown, name: unknown, message: unknown): string | null {
  if (typeof code === 'string') {
    if (NETWORK_ERRNOS[code]) return NETWORK_ERRNOS[code];
    if (SQLSTATE_REASONS[code]) return SQLSTATE_REASONS[code];
    if (code.length === 5 && code.startsWith('08')) return 'the connection failed';
    if (code.length === 5 && code.startsWith('53')) return 'the server is out of resources';
  }
  if (name === 'KnexTimeoutError') return 'no free connection in time';
  if (typeof message === 'string') return LOST_CONNECTION.find(([pattern]) => pattern.test(message))?.[1] ?? null;
  return null;
}
