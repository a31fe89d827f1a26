import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from 'pg';
import { ChatUnitOfWork, type ChatCommandOutcome, type RecordedEvent } from '../../application';
import { decisionNeeds, type ChatCommand, type ChatEvent, type DecisionState } from '../../domain';
import { canonicalId } from './uuid';
import { decideBatch, outcomeOf, type BatchEntry, type Decision } from './write/batch-decisions';
import { PooledClients } from './write/pooled-client';
import { appendEvents } from './write/stream-append';
import { beginAndLock, loadStreams, mergeNeeds, type ChatNeeds } from './write/stream-load';

/** Listeners told after a transaction with new events has committed (the relay's wake-up in one process). */
export type CommitListener = (events: RecordedEvent[]) => void;

export interface WriteBatchOptions {
  /** Commands in one transaction at most. */
  maxBatch?: number;
  /** Transactions of this process in flight at once; commands arriving meanwhile wait for the next. */
  concurrency?: number;
}

const MAX_ATTEMPTS = 20;
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

interface Waiting extends BatchEntry {
  resolve(outcome: ChatCommandOutcome): void;
  reject(error: unknown): void;
}

/**
 * Group commit (DESIGN.md §2): commands that arrive while a transaction is in flight join the next
 * one, so a busy sender writes many posts, across many chats, with one transaction of four round
 * trips: begin and lock, load, append (one multi-row statement), commit.
 *
 * - **Order.** The transaction takes the advisory locks of all its chats first, in ascending key
 *   order (no deadlock between batches of different senders), before anything assigns it a
 *   transaction id, so within a chat transaction-id order is lock order is `seq` order
 *   (docs/architecture.md "Group commit").
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

  constructor(orm: MikroORM, options: WriteBatchOptions = {}) {
    super();
    this.clients = new PooledClients(orm);
    this.maxBatch = options.maxBatch ?? 64;
    this.concurrency = options.concurrency ?? 1;
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
      try {
        ({ decisions, cursors } = await this.clients.with((client) => this.transaction(client, batch)));
      } catch (error) {
        if (isRetryable(error) && attempt < MAX_ATTEMPTS) {
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
      if (recorded.length > 0) for (const listener of this.listeners) listener(recorded);
      return;
    }
  }

  /** The database refused the batch: each command again on its own, so that only the one at fault fails. */
  private async eachAlone(batch: Waiting[]): Promise<void> {
    for (const waiting of batch) await this.runBatch([waiting]);
  }

  private async transaction(client: Client, batch: Waiting[]): Promise<{ decisions: Decision[]; cursors: Map<string, string> }> {
    const needs = new Map<string, ChatNeeds>();
    for (const { command } of batch) {
      const chatId = canonicalId(command.chatId);
      needs.set(chatId, mergeNeeds(needs.get(chatId), decisionNeeds(command)));
    }
    try {
      await beginAndLock(client, [...needs.keys()]);
      const streams = await loadStreams(client, needs);
      const decisions = decideBatch(batch, streams, randomUUID);
      const events = decisions.flatMap((decision) => (decision.ok ? decision.events : []));
      const cursors = events.length > 0 ? await appendEvents(client, events) : new Map<string, string>();
      try {
        await client.query('commit');
      } catch (error) {
        throw new CommitUnknown(error);
      }
      return { decisions, cursors };
    } catch (error) {
      if (!(error instanceof CommitUnknown)) await rollback(client);
      throw error;
    }
  }
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
