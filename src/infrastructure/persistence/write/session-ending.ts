import type { Client } from 'pg';
import { encodeCursor, Unavailable } from '../../../application';
import { connectDirect, type PostgresConnectionOptions } from '../postgres-connection';
import { asUnavailable } from '../postgres-failures';

/** How long PostgreSQL may take to end a terminated backend before we stop waiting for it. */
const TERMINATE_WAIT_MS = 3000;
/**
 * The connection that settles a lost session comes up within this (or the configured connect bound,
 * if shorter): the caller is already past a deadline, and a database that does not accept a
 * connection in that time will not answer the question either.
 */
const SETTLE_CONNECT_MS = 2000;

/** `reached`: whether the database could be asked; a batch that did not commit is worth writing again only then. */
export type SessionOutcome = { committed: true; cursors: Map<string, string> } | { committed: false; reached: boolean };

/**
 * What became of a write transaction whose session stopped answering (a deadline) or ended (a reset,
 * a terminated backend) before its outcome reached us. The session may still be alive on the server,
 * its COMMIT in flight behind a silent link, so the database is asked only once that backend is gone:
 * ended from another connection (`pg_terminate_backend`, which waits for it to exit), then the batch's
 * events, whose ids were chosen before they were sent, are looked up. They are all there (it
 * committed) or none is (it did not: a transaction is all or nothing).
 */
export class SessionEnding {
  /** `databaseUrl` null: the embedded database, whose one connection cannot be reached from another. */
  constructor(private readonly databaseUrl: string | null, private readonly connection: PostgresConnectionOptions) {}

  /**
   * Ends the backend and says whether the transaction committed. `eventIds` null: the COMMIT was never
   * sent, so it cannot have committed; the backend is ended only to free the append lock at once.
   * Throws Unavailable when the database cannot be asked, `outcomeUnknown` when a COMMIT was sent.
   */
  async outcome(pid: number | null, eventIds: string[] | null): Promise<SessionOutcome> {
    const sentCommit = eventIds !== null && eventIds.length > 0;
    if (!this.databaseUrl || pid === null) {
      if (!sentCommit) return { committed: false, reached: true };
      throw new Unavailable('postgres', 'the connection was lost while committing', true);
    }
    let client: Client | null = null;
    try {
      const connectTimeoutMs = Math.min(this.connection.connectTimeoutMs, SETTLE_CONNECT_MS);
      client = await connectDirect(this.databaseUrl, { ...this.connection, connectTimeoutMs }, 'parley-session-ending');
      await endBackend(client, pid);
      if (!sentCommit) return { committed: false, reached: true };
      return await lookUp(client, eventIds);
    } catch (error) {
      if (!sentCommit) return { committed: false, reached: false };
      const why = asUnavailable(error)?.reason ?? 'it did not answer';
      throw new Unavailable('postgres', `the connection was lost while committing, and the database could not be asked what became of it (${why})`, true);
    } finally {
      await client?.end().catch(() => undefined);
    }
  }
}

/** Terminates `pid` and waits until it has exited; throws if it is still there. */
async function endBackend(client: Client, pid: number): Promise<void> {
  await client.query('select pg_terminate_backend($1::int, $2::bigint)', [pid, TERMINATE_WAIT_MS]);
  const { rows } = await client.query<{ alive: boolean }>('select exists(select 1 from pg_stat_activity where pid = $1::int) as alive', [pid]);
  if (rows[0]!.alive) throw new Error(`backend ${pid} did not end within ${TERMINATE_WAIT_MS} ms`);
}

async function lookUp(client: Client, eventIds: string[]): Promise<SessionOutcome> {
  const { rows } = await client.query<{ event_id: string; tx_id: string; position: string }>(
    'select event_id::text as event_id, tx_id::text as tx_id, position::text as position from events where event_id = any($1::uuid[])',
    [eventIds],
  );
  if (rows.length === 0) return { committed: false, reached: true };
  if (rows.length !== eventIds.length) throw new Error(`${rows.length} of ${eventIds.length} events of one transaction are stored`);
  return { committed: true, cursors: new Map(rows.map((row) => [row.event_id, encodeCursor(row.tx_id, row.position)])) };
}
