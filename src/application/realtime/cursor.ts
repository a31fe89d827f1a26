/**
 * A cursor names a place in the global event order: (writing transaction id, position). Readers only
 * take rows whose transaction is below their snapshot's xmin, so everything at or before a cursor that
 * a client has seen is committed, and resuming "after" it can never pass over a late commit.
 * Clients treat it as opaque.
 */
export interface Cursor {
  txId: string;
  position: string;
}

export const START_CURSOR = '0.0';
const CURSOR_PATTERN = /^(\d{1,20})\.(\d{1,20})$/;

export function encodeCursor(txId: string | number | bigint, position: string | number | bigint): string {
  return `${txId}.${position}`;
}

export function decodeCursor(cursor: string): Cursor | null {
  const match = CURSOR_PATTERN.exec(cursor);
  return match ? { txId: match[1]!, position: match[2]! } : null;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs in storage; any other string names nothing, so lookups answer "not found" without asking. */
export function isUuid(id: string): boolean {
  return UUID_PATTERN.test(id);
}
