import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import type { ChatView } from '../../../application';
import { decisionNeeds } from '../../../domain';
import { TAKE_APPEND_LOCK } from '../commit-order';
import { asUnavailable, isSessionLost } from '../postgres-failures';
import { backendPid } from '../statement-deadline';
import { canonicalId } from '../uuid';
import { planAppend } from './append-plan';
import { decideBatch, type BatchEntry, type Decision } from './batch-decisions';
import { forgetPrepared, lastResult, prepareOnce } from './pooled-client';
import { APPEND_BATCHED, appendSteps, batchedAppend, type AppendedRow } from './stream-append';
import { LOAD, loadStatement, mergeNeeds, type ChatNeeds, type LoadRow } from './stream-load';

/**
 * How the write transaction's statements are planned. Their parameters are JSON, of a few rows
 * whatever the batch, so a plan made once fits them all; and every row they touch is found by key,
 * which the planner cannot tell from a JSON parameter (it guesses 100 rows, and on small or freshly
 * grown tables then prefers to scan them whole). `set local` ends with the transaction. (The pool's
 * connections run without JIT, which the penalty `enable_seqscan = off` puts on a scan with no index to
 * take would otherwise set off: see database.ts.)
 */
const PLANNER_SETTINGS = [
  'set local plan_cache_mode = force_generic_plan',
  'set local enable_seqscan = off',
  'set local enable_hashjoin = off',
  'set local enable_mergejoin = off',
];

/**
 * Every sender's batches wait for the one holding the append lock. A batch is idle inside its
 * transaction only while this process decides (milliseconds); one whose process hangs mid-batch (a
 * frozen host, a stuck event loop) or whose link went silent is ended by PostgreSQL after this, and
 * the lock with it. Its commands were not answered; clients retry with their clientMessageId.
 */
const HUNG_WRITER_TIMEOUT = `set local idle_in_transaction_session_timeout = '5s'`;

/**
 * Right after the lock, in the same round trip: how long it took to get, by the server's clock from
 * the arrival of the batch's first message (every statement of one message shares its
 * `statement_timestamp()`). One trivial statement per batch; it tells whether the lock or the CPU limits
 * writes (DESIGN.md §3 "Commit order").
 */
const LOCK_WAITED = 'select extract(epoch from clock_timestamp() - statement_timestamp())::float8 as waited';

export const UNKNOWN_PREPARED_STATEMENT = '26000';

export interface WrittenBatch {
  decisions: Decision[];
  cursors: Map<string, string>;
  /** By command index: the chat as the command left it, for commands answered with their chat. */
  views: Map<number, ChatView | null>;
  /** Set once committed. */
  appendLock: AppendLockTimes | null;
}

/**
 * `waitSeconds`: from the batch's first message reaching the server to the append lock granted.
 * `holdSeconds`: from then to the commit's answer here (the lock is released at the commit, one
 * network hop earlier; the first message's hop to the server is counted in it too).
 */
export interface AppendLockTimes {
  waitSeconds: number;
  holdSeconds: number;
}

/**
 * The session stopped answering or ended before the transaction's outcome reached us. Before the
 * COMMIT was sent (`decided` null) nothing can have committed; after it, the transaction may have.
 * Either way the backend may still be alive on the server, holding the append lock.
 */
export class SessionLost extends Error {
  constructor(
    override readonly cause: unknown,
    readonly pid: number | null,
    /** Set once the COMMIT was sent: what it would have committed. */
    readonly decided: WrittenBatch | null,
  ) {
    super(decided ? 'the session was lost while committing a write batch' : 'the session was lost during a write batch, before its commit');
  }

  get eventIds(): string[] | null {
    return this.decided ? this.decided.decisions.flatMap((decision) => (decision.ok ? decision.events.map((e) => e.eventId) : [])) : null;
  }
}

/**
 * One transaction, two round trips: `begin`, the locks and the load; then, once decided, the append
 * and `commit`. Events that do not fold into the batched append (chat-level commands, deletions)
 * take a round trip each in between. A refusal by PostgreSQL is thrown as it is (nothing committed);
 * a lost or silent session as SessionLost.
 */
export async function writeTransaction(client: Client, batch: BatchEntry[]): Promise<WrittenBatch> {
  const pid = backendPid(client);
  const needs = new Map<string, ChatNeeds>();
  for (const { command } of batch) {
    const chatId = canonicalId(command.chatId);
    needs.set(chatId, mergeNeeds(needs.get(chatId), decisionNeeds(command)));
  }
  let written: WrittenBatch | null = null;
  try {
    await prepareOnce(client, [LOAD, APPEND_BATCHED]);
    const load = loadStatement(needs);
    const statements = [
      // Read committed whatever the server's default: the load must see the batch before ours,
      // committed while we waited for the lock (a snapshot from before the wait would not).
      'begin isolation level read committed',
      ...PLANNER_SETTINGS,
      HUNG_WRITER_TIMEOUT,
      TAKE_APPEND_LOCK,
      LOCK_WAITED,
      ...(load.sql ? [load.sql] : []),
    ];
    const sent = performance.now();
    const opened = await client.query(statements.join(';\n'));
    const waitSeconds = lockWaited(opened, statements.indexOf(LOCK_WAITED));
    const streams = load.read(load.sql ? lastResult<LoadRow>(opened).rows[0]! : null);
    const decisions = decideBatch(batch, streams, randomUUID);
    const { batched, alone } = planAppend(batch, decisions);
    const { cursors, views } = await appendSteps(client, alone);
    const append = batched.length > 0 ? batchedAppend(batched) : null;
    written = { decisions, cursors, views, appendLock: null };
    const committed = await client.query(append ? `${append.sql};\ncommit` : 'commit');
    if (waitSeconds !== null) written.appendLock = { waitSeconds, holdSeconds: Math.max(0, (performance.now() - sent) / 1000 - waitSeconds) };
    if (append) for (const [eventId, cursor] of append.read(firstResult<AppendedRow>(committed).rows)) cursors.set(eventId, cursor);
    return written;
  } catch (error) {
    // Lost with the session: a COMMIT sent may have committed. Refused by PostgreSQL: nothing did.
    // Once the COMMIT is sent, anything but a refusal leaves the outcome open, even a failure of ours
    // in reading its answer; before it, only a failure of the connection loses the session.
    if (written ? isSessionLost(error) : asUnavailable(error) !== null) {
      forgetPrepared(client);
      throw new SessionLost(error, pid, written);
    }
    await rollback(client);
    if ((error as { code?: string }).code === UNKNOWN_PREPARED_STATEMENT) forgetPrepared(client);
    throw error;
  }
}

/** Null when the driver did not answer one result per statement: the batch goes on, untimed. */
function lockWaited(results: unknown, index: number): number | null {
  const waited = (Array.isArray(results) ? (results[index] as { rows?: { waited?: unknown }[] } | undefined) : undefined)?.rows?.[0]?.waited;
  return typeof waited === 'number' ? waited : null;
}

function firstResult<R>(results: unknown): { rows: R[] } {
  return (Array.isArray(results) ? results[0] : results) as { rows: R[] };
}

async function rollback(client: Client): Promise<void> {
  try {
    await client.query('rollback');
  } catch {
    // A connection that cannot roll back is not fit for the pool: ending it makes the pool drop it.
    await client.end().catch(() => undefined);
  }
}
