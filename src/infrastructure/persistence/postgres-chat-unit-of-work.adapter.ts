import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { DatabaseError, type Client } from 'pg';
import { ChatUnitOfWork, type ChatCommandOutcome, type RecordedEvent } from '../../application';
import { decisionNeeds, type ChatCommand, type ChatEvent, type DecisionState } from '../../domain';
import { canonicalId } from './uuid';
import { decideBatch, outcomeOf, type BatchEntry, type Decision } from './write/batch-decisions';
import { forgetPrepared, lastResult, PooledClients, prepareOnce } from './write/pooled-client';
import { APPEND_BATCHED, appendAlone, batchedAppend, splitForAppend, type AppendedRow } from './write/stream-append';
import { TAKE_APPEND_LOCK } from './commit-order';
import { LOAD, loadStatement, mergeNeeds, type ChatNeeds, type LoadRow } from './write/stream-load';

/** Listeners told after a transaction with new events has committed (the relay's wake-up in one process). */
export type CommitListener = (events: RecordedEvent[]) => void;

export interface WriteBatchOptions {
  /** Commands in one transaction at most. */
  maxBatch?: number;
  /** Transactions of this process in flight at once; commands arriving meanwhile wait for the next. */
  concurrency?: number;
  /** Told of each transaction that committed: how many commands it carried and how long it took. */
  onBatch?(commands: number, seconds: number): void;
  /** Told of each transaction run again (a serialisation failure, deadlock or version conflict). */
  onRetry?(): void;
}

const MAX_ATTEMPTS = 20;
/**
 * How the write transaction's statements are planned. Their parameters are JSON, of a few rows
 * whatever the batch, so a plan made once fits them all; and every row they touch is found by key,
 * which the planner cannot tell from a JSON parameter (it guesses 100 rows, and on small or freshly
 * grown tables then prefers to scan them whole). `set local` ends with the transaction.
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
 * frozen host, a stuck event loop) is ended by PostgreSQL after this, and the lock with it. Its
 * commands were not answered; clients retry with their clientMessageId.
 */
const HUNG_WRITER_TIMEOUT = `set local idle_in_transaction_session_timeout = '5s'`;

const UNKNOWN_PREPARED_STATEMENT = '26000';
/** Serialisation failure, deadlock, and a connection that lost its prepared statements (prepared again). */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', UNKNOWN_PREPARED_STATEMENT]);

interface Waiting extends BatchEntry {
  resolve(outcome: ChatCommandOutcome): void;
  reject(error: unknown): void;
}

/**
 * Group commit (DESIGN.md §2): commands that arrive while a transaction is in flight join the next
 * one, so a busy sender writes many posts, across many chats, with one transaction of two round
 * trips: begin, lock and load; append (one multi-row statement) and commit.
 *
 * - **Order.** The transaction takes the append lock (commit-order.ts) first, before anything
 *   assigns it a transaction id, so appends commit one batch at a time and transaction-id order is
 *   commit order is `seq` order (docs/architecture.md "Why the relay's ordering still holds"). One
 *   lock: no lock order, no deadlock between batches of different senders.
 * - **Own outcomes.** A command whose decision breaks a rule is answered with its error and left out;
 *   the rest commit. If the database refuses the batch, each command is run again alone, so only the
 *   one at fault fails. A serialisation failure, deadlock or version conflict retries the batch.
 * - **Answers after the commit**, never before: a sender that dies mid-batch has answered nothing of it.
 */
export class PostgresChatUnitOfWork extends ChatUnitOfWork {
  private readonly listeners: CommitListener[] = [];
  private readonly clients: PooledClients;
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly concurrency: number;
  private readonly onBatch: WriteBatchOptions['onBatch'];
  private readonly onRetry: WriteBatchOptions['onRetry'];

  constructor(orm: MikroORM, options: WriteBatchOptions = {}) {
    super();
    this.clients = new PooledClients(orm);
    this.maxBatch = options.maxBatch ?? 64;
    this.concurrency = options.concurrency ?? 1;
    this.onBatch = options.onBatch;
    this.onRetry = options.onRetry;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  execute(command: ChatCommand, decide: (state: DecisionState) => ChatEvent[]): Promise<ChatCommandOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ command, decide, resolve, reject });
      this.drain();
    });
  }

  private drain(): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.runBatch(batch).finally(() => {
        this.inFlight--;
        this.drain();
      });
    }
  }

  private async runBatch(batch: Waiting[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let decisions: Decision[];
      let cursors: Map<string, string>;
      const started = performance.now();
      try {
        ({ decisions, cursors } = await this.clients.with((client) => this.transaction(client, batch)));
        this.onBatch?.(batch.length, (performance.now() - started) / 1000);
      } catch (error) {
        if (isRetryable(error) && attempt < MAX_ATTEMPTS) {
          this.onRetry?.();
          await backoff(attempt);
          continue;
        }
        // Whether it committed is unknown: retrying could write it twice, so everyone hears of the failure.
        if (batch.length > 1 && !(error instanceof CommitUnknown)) return this.eachAlone(batch);
        for (const waiting of batch) waiting.reject(error instanceof CommitUnknown ? error.cause : error);
        return;
      }
      const recorded: RecordedEvent[] = [];
      batch.forEach((waiting, index) => {
        const decision = decisions[index]!;
        if (!decision.ok) return waiting.reject(decision.error);
        const outcome = outcomeOf(decision, cursors);
        recorded.push(...outcome.recorded);
        waiting.resolve(outcome);
      });
      // After the answers have gone out: waking the relay (a NOTIFY on another connection) can wait that long.
      if (recorded.length > 0) setImmediate(() => this.notify(recorded));
      return;
    }
  }

  private notify(recorded: RecordedEvent[]): void {
    for (const listener of this.listeners) listener(recorded);
  }

  /** The database refused the batch: each command again on its own, so that only the one at fault fails. */
  private async eachAlone(batch: Waiting[]): Promise<void> {
    for (const waiting of batch) await this.runBatch([waiting]);
  }

  /**
   * One transaction, two round trips: `begin`, the locks and the load; then, once decided, the
   * append and `commit`. Events that do not fold into the batched append (chat-level commands,
   * deletions) take a round trip each in between.
   */
  private async transaction(client: Client, batch: Waiting[]): Promise<{ decisions: Decision[]; cursors: Map<string, string> }> {
    const needs = new Map<string, ChatNeeds>();
    for (const { command } of batch) {
      const chatId = canonicalId(command.chatId);
      needs.set(chatId, mergeNeeds(needs.get(chatId), decisionNeeds(command)));
    }
    await prepareOnce(client, [LOAD, APPEND_BATCHED]);
    const load = loadStatement(needs);
    try {
      const opened = await client.query(
        [
          // Read committed whatever the server's default: the load must see the batch before ours,
          // committed while we waited for the lock (a snapshot from before the wait would not).
          'begin isolation level read committed',
          ...PLANNER_SETTINGS,
          HUNG_WRITER_TIMEOUT,
          TAKE_APPEND_LOCK,
          ...(load.sql ? [load.sql] : []),
        ].join(';\n'),
      );
      const streams = load.read(load.sql ? lastResult<LoadRow>(opened).rows[0]! : null);
      const decisions = decideBatch(batch, streams, randomUUID);
      const { batched, alone } = splitForAppend(decisions.flatMap((decision) => (decision.ok ? decision.events : [])));
      const cursors = await appendAlone(client, alone);
      const append = batched.length > 0 ? batchedAppend(batched) : null;
      try {
        const committed = await client.query(append ? `${append.sql};\ncommit` : 'commit');
        if (append) for (const [eventId, cursor] of append.read(firstResult<AppendedRow>(committed).rows)) cursors.set(eventId, cursor);
      } catch (error) {
        // PostgreSQL's own refusal means nothing was committed; a lost connection leaves it unknown.
        if (!(error instanceof DatabaseError)) throw new CommitUnknown(error);
        throw error;
      }
      return { decisions, cursors };
    } catch (error) {
      if (!(error instanceof CommitUnknown)) await rollback(client);
      if ((error as { code?: string }).code === UNKNOWN_PREPARED_STATEMENT) forgetPrepared(client);
      throw error;
    }
  }
}

function firstResult<R>(results: unknown): { rows: R[] } {
  return (Array.isArray(results) ? results[0] : results) as { rows: R[] };
}

/** The commit was sent but not confirmed: the transaction may or may not have committed. */
class CommitUnknown extends Error {
  constructor(override readonly cause: unknown) {
    super('the commit of a write batch was not confirmed');
  }
}

async function rollback(client: Client): Promise<void> {
  try {
    await client.query('rollback');
  } catch {
    // A connection that cannot roll back is not fit for the pool: ending it makes the pool drop it.
    await client.end().catch(() => undefined);
  }
}

function isRetryable(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  if (code && RETRYABLE_SQLSTATES.has(code)) return true;
  // The version guard: another writer appended the same version first.
  const constraint = (error as { constraint?: string }).constraint;
  return code === '23505' && constraint === 'events_stream_version_unique';
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.min(100, 2 ** attempt) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
