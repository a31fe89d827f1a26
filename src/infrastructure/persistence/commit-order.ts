/**
 * The one rule every reader of the event store and the outbox follows (DESIGN.md §3, see
 * docs/architecture.md "Cursors, tx_id and head"): only rows whose writing transaction is below the
 * oldest transaction still running are final, so nothing can later appear before a point a reader
 * has passed. Read them ordered by (tx_id, position).
 */
export function settled(txIdColumn: string): string {
  return `${txIdColumn} < pg_snapshot_xmin(pg_current_snapshot())`;
}
