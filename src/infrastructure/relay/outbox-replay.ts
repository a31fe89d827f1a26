import type { MikroORM } from '@mikro-orm/postgresql';
import { decodeCursor, type EventTransport, type RelayedRecord } from '../../application';
import { OUTBOX_PAGE, readOutboxPage } from '../persistence/outbox-page';
import { toRelayedRecord } from './outbox-reader';

/** A bound of a replay range: an event cursor ("<txid>.<position>") or an ISO-8601 time. */
export type ReplayBound = { cursor: { txId: bigint; position: bigint } } | { time: Date };

export function parseReplayBound(value: string): ReplayBound | null {
  const cursor = decodeCursor(value);
  if (cursor) return { cursor };
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return null;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? null : { time };
}

/**
 * Publishes outbox rows again, in relay order, from `from` (inclusive) to `to` (inclusive), with
 * their original positions and previous-row links: receivers that delivered them already drop them,
 * consumers that missed them take them. Reads committed rows in relay order, like the relay, and
 * publishes each page partition by partition (DESIGN.md §3 "Ordering partitions").
 *
 * Only rows their partition's relay has published (at or before its saved checkpoint) go again. A row
 * published ahead of its relay could reach a receiver before an earlier row of another chat of the
 * same partition, whose link would still match: the receiver would hand the two on out of the
 * partition's order, and a user-scoped subscription would pass over the earlier one. The relays
 * publish the rest themselves.
 */
export async function replayOutbox(
  orm: MikroORM,
  transport: EventTransport,
  range: { from: ReplayBound; to?: ReplayBound },
  options: ReplayOptions = {},
): Promise<number> {
  const conditions = [boundCondition(range.from, '>='), ...(range.to ? [boundCondition(range.to, '<=')] : [])];
  const inRange = `${conditions.map((condition) => condition.sql).join(' and ')}
                and (o.tx_id, o.id) <= (select c.tx_id, c.outbox_id from relay_checkpoints c where c.name = 'partition:' || o.partition)`;
  const rangeParams = conditions.flatMap((condition) => condition.params);
  const onProgress = options.onProgress;
  // Counted once, before the first page: what the relays publish meanwhile is beyond their checkpoints then.
  const total = onProgress ? await countRows(orm, inRange, rangeParams) : 0;
  onProgress?.(0, total);
  let after = { txId: '0', id: '0' };
  let published = 0;
  for (;;) {
    const { rows } = await readOutboxPage(
      orm.em.fork(),
      {
        where: `(o.tx_id, o.id) > (?::xid8, ?::bigint) and ${inRange}`,
        params: [after.txId, after.id, ...rangeParams],
        orderBy: 'tx_id, id',
        withPrevious: true,
      },
      { ...OUTBOX_PAGE, rows: options.batchSize ?? 500 },
    );
    if (rows.length === 0) return published;
    // Each partition's rows in relay order, the partitions side by side; unfenced and without ticks,
    // since a replay proves nothing about what else of a partition was published.
    const byPartition = new Map<number, RelayedRecord[]>();
    for (const record of rows.map((row) => toRelayedRecord(row))) {
      const group = byPartition.get(record.partition);
      if (group) group.push(record);
      else byPartition.set(record.partition, [record]);
    }
    await Promise.all([...byPartition].map(([partition, records]) => transport.publish(partition, records)));
    published += rows.length;
    onProgress?.(published, Math.max(total, published));
    const last = rows[rows.length - 1]!;
    after = { txId: last.tx_id, id: last.id };
  }
}

export interface ReplayOptions {
  /** Rows per page (500). */
  batchSize?: number;
  /** Rows published so far, of how many the range held when the replay started. */
  onProgress?(done: number, total: number): void;
}

async function countRows(orm: MikroORM, where: string, params: unknown[]): Promise<number> {
  const [row] = await orm.em.fork().execute<{ rows: string }[]>(`select count(*)::text as rows from outbox o where ${where}`, params);
  return Number(row?.rows ?? 0);
}

/** Rows from derived notifications have no event of their own; they go with their transaction. */
function boundCondition(bound: ReplayBound, operator: '>=' | '<='): { sql: string; params: unknown[] } {
  if ('time' in bound) return { sql: `o.created_at ${operator} ?`, params: [bound.time.toISOString()] };
  const { txId, position } = bound.cursor;
  return {
    sql: `(o.tx_id, coalesce(o.event_position, ${operator === '>=' ? '9223372036854775807' : '0'})) ${operator} (?::xid8, ?::bigint)`,
    params: [txId.toString(), position.toString()],
  };
}
