/**
 * Cursor order, as the server defines it (src/application/realtime/cursor.ts): a cursor is
 * "<transaction id>.<position>", and cursors are ordered by that pair, compared as numbers.
 *
 * This library ships with the server it talks to, so it may know the encoding; applications using it
 * keep treating cursors as opaque strings. A cursor in any other form is only ever compared for
 * equality (`null` below), so a future encoding degrades to "drop exact repeats", never to dropping
 * something new.
 */
const CURSOR_PATTERN = /^(\d{1,20})\.(\d{1,20})$/;

/** Negative, zero or positive as `a` comes before, at or after `b`; `null` when either is not in the known form. */
export function compareCursors(a: string, b: string): number | null {
  const left = CURSOR_PATTERN.exec(a);
  const right = CURSOR_PATTERN.exec(b);
  if (!left || !right) return null;
  for (const part of [1, 2]) {
    const x = BigInt(left[part]!);
    const y = BigInt(right[part]!);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** True when `candidate` is at or before `seen`: the server already sent it, or something after it. */
export function isAtOrBefore(candidate: string, seen: string): boolean {
  const order = compareCursors(candidate, seen);
  return order === null ? candidate === seen : order <= 0;
}
