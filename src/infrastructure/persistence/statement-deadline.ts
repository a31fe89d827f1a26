import type { Client } from 'pg';
import { Unavailable } from '../../application';

/**
 * No answer from PostgreSQL within the deadline. The connection it was sent on has been destroyed: a
 * silent connection (a dropped route, a frozen NAT, a host gone without a FIN) would otherwise hold
 * the statement, and everything queued behind it on that connection, until TCP gives up, which is
 * minutes. Whether the statement took effect is unknown to this process.
 */
export class StatementDeadlineExceeded extends Unavailable {
  constructor(readonly deadlineMs: number) {
    super('postgres', `no answer within ${deadlineMs} ms`);
    this.name = 'StatementDeadlineExceeded';
  }
}

type QueryCallback = (error: Error | null, result?: unknown) => void;
type Query = (config: unknown, values?: unknown, callback?: unknown) => unknown;

/**
 * Gives every statement sent on `client` a client-side deadline of `deadlineMs()` (none when it answers
 * null). Past it the socket is destroyed, so node-postgres fails the statement and everything queued
 * behind it, the pool drops the connection, and the caller gets StatementDeadlineExceeded.
 * node-postgres's own `query_timeout` fails the statement but keeps the connection, which stays busy
 * with it: every later statement on it would time out too.
 */
export function applyStatementDeadline(client: Client, deadlineMs: () => number | null): void {
  const query = client.query.bind(client) as Query;
  (client as unknown as { query: Query }).query = (config, values, callback) => {
    const ms = deadlineMs();
    // A Query, Cursor or stream object drives itself; none is used on these connections.
    if (ms === null || typeof (config as { submit?: unknown } | null)?.submit === 'function') return query(config, values, callback);
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      destroyConnection(client);
    }, ms);
    const outcome = (error: Error | null): Error | null => (expired ? new StatementDeadlineExceeded(ms) : error);
    if (typeof values === 'function' || typeof callback === 'function') {
      const given = (typeof values === 'function' ? values : callback) as QueryCallback;
      const wrapped: QueryCallback = (error, result) => {
        clearTimeout(timer);
        const failure = outcome(error);
        if (failure) given(failure);
        else given(null, result);
      };
      return typeof values === 'function' ? query(config, wrapped) : query(config, values, wrapped);
    }
    return (query(config, values) as Promise<unknown>).then(
      (result) => {
        clearTimeout(timer);
        if (expired) throw new StatementDeadlineExceeded(ms);
        return result;
      },
      (error: Error) => {
        clearTimeout(timer);
        throw outcome(error);
      },
    );
  };
}

/** Ends the connection at once, whatever it is waiting for: node-postgres then fails what it has in flight. */
export function destroyConnection(client: Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** The server process of a connection, to end it from another one. */
export function backendPid(client: Client): number | null {
  const pid = (client as unknown as { processID?: unknown }).processID;
  return typeof pid === 'number' && pid > 0 ? pid : null;
}
