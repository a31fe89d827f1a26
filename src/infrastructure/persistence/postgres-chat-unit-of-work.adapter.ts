import type { Client } from 'pg';
import { ChatUnitOfWork, Unavailable, type ChatCommandOutcome, type RecordedEvent } from '../../application';
import type { ChatCommand, ChatEvent, DecisionState } from '../../domain';
import type { Database } from './database';
import { asUnavailable } from './postgres-failures';
import { destroyConnection } from './statement-deadline';
import { outcomeOf, type BatchEntry } from './write/batch-decisions';
import { PooledClients, withFreshClient } from './write/pooled-client';
import { SessionEnding } from './write/session-ending';
import { SessionLost, UNKNOWN_PREPARED_STATEMENT, writeTransaction, type WrittenBatch } from './write/write-transaction';

/** Listeners told after a transaction with new events has committed (the relay's wake-up in one process). */
export type CommitListener = (events: RecordedEvent[]) => void;

export interface WriteBatchOptions {
  /** Commands in one transaction at most. */
  maxBatch?: number;
  /** Transactions of this process in flight at once; commands arriving meanwhile wait for the next. */
  concurrency?: number;
  /**
   * The longest a batch may take, and a command may wait to be started, in ms (the database's
   * statement deadline when not given; null: none). Past it the batch's connection is destroyed and
   * its outcome settled (see SessionEnding); a command that waited that long is answered UNAVAILABLE.
   */
  deadlineMs?: number | null;
  /** Commands waiting at most; one more is answered UNAVAILABLE at once, with nothing written (5000). */
  maxQueued?: number;
  /** Told of each transaction that committed: how many commands it carried and how long it took. */
  onBatch?(commands: number, seconds: number): void;
  /** Told of each command committed: how long from its arrival (the wait for a batch included) to the commit. */
  onCommandCommitted?(seconds: number): void;
  /** Told of each transaction that committed: how long it waited for the append lock and held it (commit-order.ts). */
  onAppendLock?(waitSeconds: number, holdSeconds: number): void;
  /** Told of each transaction run again (a serialisation failure, deadlock, version conflict, a lost session that did not commit). */
  onRetry?(): void;
  /** Told of each batch whose session was lost or went silent, with what became of it. */
  onSessionLost?(outcome: 'committed' | 'not committed' | 'unknown', error: unknown): void;
}

/** What the unit of work needs of the database: its pool, and how to reach it from a connection of its own. */
export type WriteDatabase = Pick<Database, 'orm' | 'url' | 'embedded' | 'connection'>;

const MAX_ATTEMPTS = 20;
const DEFAULT_MAX_QUEUED = 5000;
/** A batch whose session was lost without committing runs again this often, so its answer comes within about two deadlines. */
const LOST_SESSION_RETRIES = 1;
/** Serialisation failure, deadlock, and a connection that lost its prepared statements (prepared again). */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', UNKNOWN_PREPARED_STATEMENT]);

interface Waiting extends BatchEntry {
  resolve(outcome: ChatCommandOutcome): void;
  reject(error: unknown): void;
  /** performance.now() when it was queued. */
  queuedAt: number;
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
 * - **Deadlines** (DESIGN.md §5). A batch that gets no answer in time, or whose session ends, has its
 *   connection destroyed; its backend is ended from another connection and the database is asked
 *   whether it committed: committed, its commands are answered from what is stored; not, it runs
 *   again while the deadline allows; the database out of reach, its commands get UNAVAILABLE, saying
 *   whether a COMMIT was sent. The queue is bounded, and a command that waits too long to start is
 *   answered UNAVAILABLE with nothing written.
 */
export class PostgresChatUnitOfWork extends ChatUnitOfWork {
  private readonly listeners: CommitListener[] = [];
  private readonly clients: PooledClients;
  private readonly sessions: SessionEnding;
  /** A batch run again after a lost session goes on a new connection, when one can be made beside the pool. */
  private readonly fresh: (<T>(work: (client: Client) => Promise<T>) => Promise<T>) | null;
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly concurrency: number;
  private readonly deadlineMs: number | null;
  private readonly maxQueued: number;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(database: WriteDatabase, private readonly options: WriteBatchOptions = {}) {
    super();
    this.clients = new PooledClients(database.orm);
    this.sessions = new SessionEnding(database.embedded ? null : database.url, database.connection);
    // The embedded database takes one connection: there, the pool's is the only one.
    this.fresh = database.embedded ? null : (work) => withFreshClient(database.url, database.connection, work);
    this.maxBatch = options.maxBatch ?? 64;
    this.concurrency = options.concurrency ?? 1;
    this.deadlineMs = options.deadlineMs === undefined ? database.connection.statementTimeoutMs : options.deadlineMs;
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  execute(command: ChatCommand, decide: (state: DecisionState) => ChatEvent[]): Promise<ChatCommandOutcome> {
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(new Unavailable('postgres', `${this.maxQueued} writes are already waiting on this instance; nothing was written`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ command, decide, resolve, reject, queuedAt: performance.now() });
      this.drain();
      this.sweepLater();
    });
  }

  /**
   * Commands wait behind a batch in flight, which may itself take its whole deadline and then some to
   * settle: each is answered at its own deadline, not when that batch is done.
   */
  private sweepLater(): void {
    if (this.deadlineMs === null || this.sweeper || this.queue.length === 0) return;
    const oldest = this.queue[0]!;
    const due = Math.max(0, oldest.queuedAt + this.deadlineMs - performance.now());
    this.sweeper = setTimeout(() => {
      this.sweeper = null;
      // The queue is in arrival order: whatever has waited too long is at its front.
      const now = performance.now();
      let expired = 0;
      while (expired < this.queue.length && now - this.queue[expired]!.queuedAt > this.deadlineMs!) expired++;
      this.startable(this.queue.splice(0, expired));
      this.sweepLater();
    }, due + 1);
    this.sweeper.unref();
  }

  private drain(): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0) {
      const batch = this.startable(this.queue.splice(0, this.maxBatch));
      if (batch.length === 0) continue;
      this.inFlight++;
      void this.runBatch(batch).finally(() => {
        this.inFlight--;
        this.drain();
      });
    }
  }

  /** Commands that waited past the deadline are answered now, unstarted: their clients retry later. */
  private startable(taken: Waiting[]): Waiting[] {
    if (this.deadlineMs === null) return taken;
    const now = performance.now();
    return taken.filter((waiting) => {
      if (now - waiting.queuedAt <= this.deadlineMs!) return true;
      waiting.reject(new Unavailable('postgres', `this write waited ${this.deadlineMs} ms for the database without starting; nothing was written`));
      return false;
    });
  }

  private async runBatch(batch: Waiting[]): Promise<void> {
    let lostAgain = 0;
    for (let attempt = 1; ; attempt++) {
      let written: WrittenBatch;
      const started = performance.now();
      try {
        const transaction = (client: Client) => this.withinDeadline(client, () => writeTransaction(client, batch));
        written = await (lostAgain > 0 && this.fresh ? this.fresh(transaction) : this.clients.with(transaction));
      } catch (error) {
        if (error instanceof SessionLost) {
          const settled = await this.settle(batch, error);
          if (settled === 'answered') return;
          // Certainly not committed, and the database answers: once more on another connection, which
          // need not be silent too. Out of reach, another try would only take longer to fail.
          if (settled === 'again' && lostAgain++ < LOST_SESSION_RETRIES) {
            this.options.onRetry?.();
            continue;
          }
          return rejectAll(batch, new Unavailable('postgres', 'the database did not answer the write in time; nothing was written'));
        }
        if (isRetryable(error) && attempt < MAX_ATTEMPTS) {
          this.options.onRetry?.();
          await backoff(attempt);
          continue;
        }
        const unavailable = asUnavailable(error);
        if (unavailable) return rejectAll(batch, unavailable);
        // Refused by the database: each command again on its own, so that only the one at fault fails.
        if (batch.length > 1) return this.eachAlone(batch);
        return rejectAll(batch, error);
      }
      this.answer(batch, written, written.cursors);
      const committedAt = performance.now();
      this.told(() => this.options.onBatch?.(batch.length, (committedAt - started) / 1000));
      this.told(() => {
        for (const command of batch) this.options.onCommandCommitted?.((committedAt - command.queuedAt) / 1000);
      });
      const lock = written.appendLock;
      if (lock) this.told(() => this.options.onAppendLock?.(lock.waitSeconds, lock.holdSeconds));
      return;
    }
  }

  /**
   * A lost session: ends its backend and asks the database what became of the batch. Answers
   * 'answered' when its commands have their answers (it committed, or it may have and the database
   * could not be asked), 'again' when it certainly did not commit and the database answers,
   * 'unreachable' when it certainly did not commit and the database does not answer.
   */
  private async settle(batch: Waiting[], lost: SessionLost): Promise<'answered' | 'again' | 'unreachable'> {
    let outcome;
    try {
      outcome = await this.sessions.outcome(lost.pid, lost.eventIds);
    } catch (unknown) {
      this.told(() => this.options.onSessionLost?.('unknown', lost.cause));
      rejectAll(batch, unknown);
      return 'answered';
    }
    this.told(() => this.options.onSessionLost?.(outcome.committed ? 'committed' : 'not committed', lost.cause));
    if (!outcome.committed) return outcome.reached ? 'again' : 'unreachable';
    this.answer(batch, lost.decided!, outcome.cursors);
    return 'answered';
  }

  /** The whole transaction within the deadline: past it the connection is destroyed, which fails what is in flight. */
  private async withinDeadline<T>(client: Client, work: () => Promise<T>): Promise<T> {
    if (this.deadlineMs === null) return work();
    const timer = setTimeout(() => destroyConnection(client), this.deadlineMs);
    try {
      return await work();
    } finally {
      clearTimeout(timer);
    }
  }

  /** A listener (metrics, logs) that fails changes nothing about a batch that committed. */
  private told(listener: () => void): void {
    try {
      listener();
    } catch {
      // Deliberately ignored: the batch is answered; a broken metric must not turn it into a failure.
    }
  }

  /** Every command of a committed batch: its outcome, or the rule it broke. */
  private answer(batch: Waiting[], written: WrittenBatch, cursors: Map<string, string>): void {
    const recorded: RecordedEvent[] = [];
    batch.forEach((waiting, index) => {
      const decision = written.decisions[index]!;
      if (!decision.ok) return waiting.reject(decision.error);
      const outcome = outcomeOf(decision, cursors);
      if (written.views.has(index)) outcome.chat = written.views.get(index)!;
      recorded.push(...outcome.recorded);
      waiting.resolve(outcome);
    });
    // After the answers have gone out: waking the relay (a NOTIFY on another connection) can wait that long.
    if (recorded.length > 0) setImmediate(() => this.notify(recorded));
  }

  private notify(recorded: RecordedEvent[]): void {
    for (const listener of this.listeners) listener(recorded);
  }

  /** The database refused the batch: each command again on its own, so that only the one at fault fails. */
  private async eachAlone(batch: Waiting[]): Promise<void> {
    for (const waiting of batch) await this.runBatch([waiting]);
  }
}

function rejectAll(batch: Waiting[], error: unknown): void {
  for (const waiting of batch) waiting.reject(error);
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
