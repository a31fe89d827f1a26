import type { MikroORM } from '@mikro-orm/postgresql';
import { decodeCursor, encodeCursor, withCursor, type ChannelMessage, type RelayedRecord } from '../../application';

export interface OutboxRow {
  id: string;
  tx_id: string;
  event_position: string | null;
  payload: ChannelMessage[];
}

/**
 * Reads outbox rows in relay order: only rows whose transaction is below the snapshot's xmin,
 * ordered by (transaction, id), so a writer that commits late is never passed over (DESIGN.md §3).
 */
export class OutboxReader {
  constructor(private readonly orm: MikroORM) {}

  /** The newest row below every open transaction: where a receiver starting now begins. */
  async settledHead(): Promise<string> {
    const [row] = await this.orm.em.fork().execute<{ tx_id: string; id: string }[]>(
      `select tx_id::text as tx_id, id::text as id from outbox
       where tx_id < pg_snapshot_xmin(pg_current_snapshot()) order by tx_id desc, id desc limit 1`,
    );
    return row ? encodeCursor(row.tx_id, row.id) : '0.0';
  }

  /** True when rows after `after` exist that are not below every open transaction yet. */
  async pendingAfter(after: string): Promise<boolean> {
    const from = decodeCursor(after)!;
    const [row] = await this.orm.em.fork().execute<{ pending: boolean }[]>(
      'select exists(select 1 from outbox o where (o.tx_id, o.id) > (?::xid8, ?::bigint)) as pending',
      [from.txId.toString(), from.position.toString()],
    );
    return row!.pending;
  }

  /** Rows after `after` (a relay position), and before `before` when given, at most `limit`. */
  async after(after: string, limit: number, before?: string): Promise<RelayedRecord[]> {
    const from = decodeCursor(after)!;
    const to = before ? decodeCursor(before)! : null;
    const rows = await this.orm.em.fork().execute<OutboxRow[]>(
      `select o.id::text as id, o.tx_id::text as tx_id, o.event_position::text as event_position, o.payload
       from outbox o
       where o.tx_id < pg_snapshot_xmin(pg_current_snapshot())
         and (o.tx_id, o.id) > (?::xid8, ?::bigint)
         ${to ? 'and (o.tx_id, o.id) < (?::xid8, ?::bigint)' : ''}
       order by o.tx_id, o.id
       limit ?`,
      [from.txId.toString(), from.position.toString(), ...(to ? [to.txId.toString(), to.position.toString()] : []), limit],
    );
    return chain(rows.map(toRelayedRecord), after);
  }
}

export function toRelayedRecord(row: OutboxRow): RelayedRecord {
  const position = encodeCursor(row.tx_id, row.id);
  // Domain rows get their event's cursor; derived rows (projections) carry the cursor of their source event.
  const messages = row.event_position === null
    ? row.payload
    : row.payload.map((message) => withCursor(message, encodeCursor(row.tx_id, row.event_position!)));
  return { position, messages };
}

/** Links each record to the one before it, the first to `previous`. */
export function chain(records: RelayedRecord[], previous: string): RelayedRecord[] {
  let last = previous;
  return records.map((record) => {
    const linked = { ...record, previous: last };
    last = record.position;
    return linked;
  });
}
