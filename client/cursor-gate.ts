import { compareCursors, isAtOrBefore } from './cursor';

/**
 * Decides, payload by payload, whether a subscription's payload is new, and remembers the cursor to
 * resume from.
 *
 * Why order and not a set of seen cursors: the server sends each subscription's payloads in cursor
 * order and resumes strictly after the `after` it is given, so "at or before the last one handled"
 * is exactly "already handled", in constant memory. A set would also let an older payload through
 * that arrives after a newer one, which the page would then show out of order.
 *
 * Counts (`unreadCountUpdated`) are current values per chat, and their cursors rise per chat, not
 * across chats: for them the order is kept per partition (the chat), and a payload under the same
 * cursor as the last one of its chat is new only if it says something else (a corrected value after
 * the server rebuilt its projection).
 */
export class CursorGate<T extends { cursor: string }> {
  private last: string | undefined;
  private readonly partitions = new Map<string, { cursor: string; json: string }>();

  constructor(after: string | undefined, private readonly partitionBy?: (payload: T) => string) {
    this.last = after;
  }

  /** The cursor to resume after: the last payload let through (or the starting point). */
  get resumeCursor(): string | undefined {
    return this.last;
  }

  /** Starts from a cursor learned later (the server's head), unless a payload came first. */
  startAt(cursor: string): void {
    this.last ??= cursor;
  }

  /**
   * Starts again from `cursor`, forgetting what was let through: after CURSOR_EXPIRED the application
   * reloaded its state as of that cursor (the server's head), and everything after it is new.
   */
  restartAt(cursor: string): void {
    this.last = cursor;
    this.partitions.clear();
  }

  /** True when the payload is new; it then becomes the last one seen. */
  admit(payload: T): boolean {
    const { cursor } = payload;
    if (!this.partitionBy) {
      if (this.last !== undefined && isAtOrBefore(cursor, this.last)) return false;
      this.last = cursor;
      return true;
    }
    const key = this.partitionBy(payload);
    const json = JSON.stringify(payload);
    const previous = this.partitions.get(key);
    if (previous) {
      const order = compareCursors(cursor, previous.cursor);
      if (order !== null && order < 0) return false;
      if ((order === 0 || cursor === previous.cursor) && json === previous.json) return false;
    }
    this.partitions.set(key, { cursor, json });
    if (this.last === undefined || !isAtOrBefore(cursor, this.last)) this.last = cursor;
    return true;
  }
}
