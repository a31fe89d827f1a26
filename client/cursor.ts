/**
 * Cursor order, as the server defines it (src/application/realtime/cursor.ts and partition-vector.ts).
 * A chat-scoped cursor is "<transaction id>.<position>", ordered by that pair compared as numbers. A
 * user-scoped cursor holds one such position per ordering partition, "<base>~<partition>:<position>…"
 * (the base holds for every partition not listed): the server interleaves partitions, so one cursor
 * comes after another only partition by partition.
 *
 * This library ships with the server it talks to, so it may know the encoding; applications using it
 * keep treating cursors as opaque strings. A cursor in any other form is only ever compared for
 * equality (`null` below), so a future encoding degrades to "drop exact repeats", never to dropping
 * something new.
 */
const POSITION = /^(\d{1,20})\.(\d{1,20})$/;
const ENTRY = /^(\d{1,4}):(\d{1,20}\.\d{1,20})$/;

/** Negative, zero or positive as `a` comes before, at or after `b`; `null` when either is not a plain position. */
export function compareCursors(a: string, b: string): number | null {
  const left = POSITION.exec(a);
  const right = POSITION.exec(b);
  if (!left || !right) return null;
  for (const part of [1, 2]) {
    const x = BigInt(left[part]!);
    const y = BigInt(right[part]!);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** A cursor as positions per partition, or null when it is in no known form. */
function positions(cursor: string): { base: string; moved: Map<number, string> } | null {
  const [base, ...entries] = cursor.split('~');
  if (base === undefined || !POSITION.test(base)) return null;
  const moved = new Map<number, string>();
  for (const entry of entries) {
    const match = ENTRY.exec(entry);
    if (!match) return null;
    moved.set(Number(match[1]), match[2]!);
  }
  return { base, moved };
}

/**
 * True when `candidate` is at or before `seen`: the server already sent it, or something after it. For
 * cursors with positions per partition: in every partition (those neither lists are at their bases).
 */
export function isAtOrBefore(candidate: string, seen: string): boolean {
  const a = positions(candidate);
  const b = positions(seen);
  if (!a || !b) return candidate === seen;
  if (compareCursors(a.base, b.base)! > 0) return false;
  for (const partition of new Set([...a.moved.keys(), ...b.moved.keys()])) {
    if (compareCursors(a.moved.get(partition) ?? a.base, b.moved.get(partition) ?? b.base)! > 0) return false;
  }
  return true;
}
