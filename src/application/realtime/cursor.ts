/**
 * A cursor names a place in the global event order: (writing transaction id, position), written
 * "<txid>.<position>". Appends commit one at a time in that order (the append lock, see
 * infrastructure/persistence/commit-order.ts), so everything at or before a cursor a client has seen
 * is committed, and resuming "after" it never passes over a late commit. Clients treat cursors as
 * opaque strings.
 */
export interface Cursor {
  txId: bigint;
  position: bigint;
}

export const START_CURSOR = '0.0';
const CURSOR_PATTERN = /^(\d{1,20})\.(\d{1,20})$/;

export function encodeCursor(txId: string | number | bigint, position: string | number | bigint): string {
  return `${txId}.${position}`;
}

/** Both parts are PostgreSQL bigints (xid8 fits too); anything larger was never issued. */
const MAX_PART_DIGITS = String(2n ** 63n - 1n);

export function decodeCursor(cursor: string): Cursor | null {
  const parts = cursorParts(cursor);
  return parts && { txId: BigInt(parts[1]!), position: BigInt(parts[2]!) };
}

/** Whether `decodeCursor` would accept it, without decoding: checked for every message a receiver hears. */
export function isCursor(cursor: string): boolean {
  return cursorParts(cursor) !== null;
}

/** The two digit strings of a cursor this server could have issued, or null. */
function cursorParts(cursor: string): RegExpExecArray | null {
  const match = CURSOR_PATTERN.exec(cursor);
  return match !== null && fitsInBigint(match[1]!) && fitsInBigint(match[2]!) ? match : null;
}

/** At most the bigint bound, compared as digit strings (leading zeros aside). */
function fitsInBigint(digits: string): boolean {
  const significant = digits.replace(/^0+(?=\d)/, '');
  if (significant.length !== MAX_PART_DIGITS.length) return significant.length < MAX_PART_DIGITS.length;
  return significant <= MAX_PART_DIGITS;
}

/**
 * Negative, zero or positive as `a` comes before, at or after `b`. Both must be valid cursors.
 * Routing compares cursors for every subscriber of every message, so cursors as this server writes
 * them (no leading zeros) are compared as digit strings: a longer part is larger, equal lengths
 * compare like their characters. Only a cursor with a leading zero (from a client) is decoded.
 */
export function compareCursors(a: string, b: string): number {
  if (a === b) return 0;
  const aDot = a.indexOf('.');
  const bDot = b.indexOf('.');
  if (isCanonical(a, aDot) && isCanonical(b, bDot)) {
    return compareDigits(a, 0, aDot, b, 0, bDot) || compareDigits(a, aDot + 1, a.length, b, bDot + 1, b.length);
  }
  return compareDecoded(a, b);
}

/** No part starts with a zero unless it is the single digit 0. */
function isCanonical(cursor: string, dot: number): boolean {
  return (cursor.charCodeAt(0) !== 48 || dot === 1) && (cursor.charCodeAt(dot + 1) !== 48 || dot + 2 === cursor.length);
}

function compareDigits(a: string, aFrom: number, aTo: number, b: string, bFrom: number, bTo: number): number {
  if (aTo - aFrom !== bTo - bFrom) return aTo - aFrom < bTo - bFrom ? -1 : 1;
  for (let i = 0; i < aTo - aFrom; i++) {
    const difference = a.charCodeAt(aFrom + i) - b.charCodeAt(bFrom + i);
    if (difference !== 0) return difference < 0 ? -1 : 1;
  }
  return 0;
}

function compareDecoded(a: string, b: string): number {
  const left = decodeCursor(a)!;
  const right = decodeCursor(b)!;
  if (left.txId !== right.txId) return left.txId < right.txId ? -1 : 1;
  if (left.position !== right.position) return left.position < right.position ? -1 : 1;
  return 0;
}
