/**
 * The one rule that makes every reader of the event store and the outbox gapless (DESIGN.md §3, the
 * option "serialize appends (a lock held until commit)"; docs/architecture.md "Commit order").
 *
 * Every transaction that appends events or outbox rows takes this lock before anything else in it,
 * and holds it until it commits or rolls back. So appends commit one transaction at a time, in the
 * order they took the lock; their transaction ids and sequence positions, both assigned after the
 * lock, rise in that order too. A snapshot therefore sees a prefix of the commit order: a reader that
 * has passed a row can never later find a row ordered before it. Readers take every committed row,
 * ordered by (tx_id, position), without waiting for anything, and no transaction elsewhere on the
 * server (a long query, a rebuild, another database) holds delivery back.
 *
 * A write transaction is one group-commit batch (two round trips and the commit), so the lock is held
 * for milliseconds and taken once per batch, not per command.
 */
export const APPEND_LOCK_KEY = 'parley:append';

/** Runs first in every appending transaction; held until its end. */
export const TAKE_APPEND_LOCK = `select pg_advisory_xact_lock(hashtextextended('${APPEND_LOCK_KEY}', 0))`;
