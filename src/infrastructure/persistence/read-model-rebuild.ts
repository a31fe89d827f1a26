import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from 'pg';
import { TAKE_APPEND_LOCK } from './commit-order';
import { replayText, STORED_EVENT_COLUMNS, type StoredEvent } from './rebuild/event-replay';
import { analyzeShadowTables, createShadowTables, dropRebuildSchemas, keepRecordedPartitions, liveShapeQuery, SHADOW_SCHEMA, swapStatements } from './rebuild/shadow-tables';
import { lastResult, literal, PooledClients } from './write/pooled-client';

/** Events replayed per round trip and per transaction of the build. */
const PAGE = 1000;

/**
 * The catch-up goes on without the lock until a round finds fewer new events than this; the rest is
 * replayed under the append lock, so this bounds the pause writes see at the swap.
 */
const CATCH_UP_BEFORE_SWAP = 100;

const SWAP_ATTEMPTS = 10;

/**
 * The swap holds the append lock between its two round trips: a rebuild that stops answering there
 * (a suspended terminal, a cut link) is ended by PostgreSQL after this, as a silent writer is.
 */
const SWAP_IDLE_TIMEOUT = '5s';

const REBUILD_LOCK = `hashtextextended('parley:projections-rebuild', 0)`;

/** Called as the rebuild goes: events replayed so far, and of how many known so far (catch-up adds to both). */
export type RebuildProgress = (done: number, total: number) => void;

/** A commit-order position in the event store: (tx_id, position). */
interface Position {
  txId: string;
  position: string;
}

const START: Position = { txId: '0', position: '0' };

/**
 * `parley projections rebuild read-models`: the read models the write transactions keep (chats,
 * participants and their read marks, messages, receipts), which commands are decided on and unread
 * counts are computed from, derived again from the event store with the very statements that wrote
 * them, beside live traffic.
 *
 * 1. Empty copies of the tables are made in a schema of their own (shadow-tables.ts).
 * 2. Every event up to the head is replayed into them, stream by stream, without any lock: writes go
 *    on, and keep the live tables current in their own transactions. Chats whose outbox rows are
 *    gone keep the partition the live table recorded.
 * 3. Events committed meanwhile are replayed in commit order, `(tx_id, position)`, which is the order
 *    appends took the append lock (commit-order.ts): reading past a position never finds an event
 *    before it later. Rounds repeat until one finds only a few.
 * 4. Under the append lock, for milliseconds: the last few events, then the shadow tables take the
 *    live ones' names in the same transaction. Writes wait only for this.
 * 5. The replaced tables are dropped after the lock is let go.
 *
 * Readers see the old tables until the swap commits, the new ones after it. Only one rebuild runs at
 * a time. Answers the events replayed.
 */
export async function rebuildReadModels(orm: MikroORM, onProgress?: RebuildProgress): Promise<number> {
  return new PooledClients(orm).with(async (client) => {
    const held = await client.query<{ held: boolean }>(`select pg_try_advisory_lock(${REBUILD_LOCK}) as held`);
    if (!held.rows[0]!.held) throw new Error('another `projections rebuild` is running on this database');
    let swapped = false;
    try {
      const liveSchema = (await client.query<{ schema: string }>('select quote_ident(current_schema()) as schema')).rows[0]!.schema;
      const replay = new ShadowReplay(client, onProgress);
      await createShadowTables(client, liveSchema);
      await client.query(`set search_path = ${SHADOW_SCHEMA}, ${liveSchema}`);
      const shape = shapeOf(await client.query(`begin; ${liveShapeQuery(liveSchema)}; commit`));
      await replay.upToHead();
      await keepRecordedPartitions(client, liveSchema);
      await replay.catchUp();
      await analyzeShadowTables(client);
      await replay.catchUp();
      await swapUnderAppendLock(client, liveSchema, replay, shape);
      swapped = true;
      return replay.done;
    } finally {
      // A failed page leaves its transaction open and aborted: end it before anything else.
      await client.query('rollback').catch(() => undefined);
      await client.query('reset search_path').catch(() => undefined);
      try {
        // After a swap, the replaced tables; after a failure, the half-built ones (or the next rebuild drops them).
        await dropRebuildSchemas(client).catch((error: unknown) => {
          if (swapped) throw error;
        });
      } finally {
        await client.query(`select pg_advisory_unlock(${REBUILD_LOCK})`).catch(() => undefined);
      }
    }
  });
}

/**
 * The last events and the swap in one transaction under the append lock, in two round trips when few
 * events came since the last catch-up: the lock with the read of those events, then their replay, the
 * swap and the commit. A swap that waited too long for a table lock is rolled back, replayed events
 * included, and tried again after another catch-up.
 */
async function swapUnderAppendLock(client: Client, liveSchema: string, replay: ShadowReplay, shape: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const mark = replay.mark();
    try {
      const opened = await client.query(
        `begin; ${TAKE_APPEND_LOCK}; set local idle_in_transaction_session_timeout = '${SWAP_IDLE_TIMEOUT}'; ${liveShapeQuery(liveSchema)}; ${replay.nextPageQuery()}`,
      );
      if (shapeOf(opened) !== shape) {
        throw new Error('the read-model tables changed while the rebuild ran (a migration?): nothing was swapped; run the rebuild again');
      }
      let events = lastResult<StoredEvent>(opened).rows;
      while (events.length === PAGE) {
        await client.query(replayText(events));
        replay.replayed(events);
        events = await replay.nextPage();
      }
      await client.query([...(events.length > 0 ? [replayText(events)] : []), ...swapStatements(liveSchema), 'commit'].join(';\n'));
      replay.replayed(events);
      return;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      replay.reset(mark);
      if (!isLockWait(error)) throw error;
      if (attempt === SWAP_ATTEMPTS) {
        throw new Error(`the swap found the read-model tables locked by other transactions ${SWAP_ATTEMPTS} times; nothing was changed`, { cause: error });
      }
      await replay.catchUp();
    }
  }
}

/** The live tables' locks not granted within the swap's bound (statement_timeout), or a deadlock PostgreSQL broke by failing us. */
function isLockWait(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '57014' || code === '55P03' || code === '40P01';
}

/** The `shape` digest among the results of a round trip that ran liveShapeQuery. */
function shapeOf(results: unknown): string {
  const list = (Array.isArray(results) ? results : [results]) as { rows?: { shape?: string }[] }[];
  const found = list.find((result) => typeof result.rows?.[0]?.shape === 'string');
  if (!found) throw new Error('the read-model tables\' shape was not read');
  return found.rows![0]!.shape!;
}

/** Replays events into the shadow tables (the session's search path points there) and remembers how far. */
class ShadowReplay {
  done = 0;
  private total = 0;
  private after: Position = START;

  constructor(
    private readonly client: Client,
    private readonly onProgress: RebuildProgress | undefined,
  ) {}

  /** Every event up to the head as it is now, stream by stream (each stream's events in order). */
  async upToHead(): Promise<void> {
    const { rows } = await this.client.query<{ tx_id: string; position: string }>(
      'select tx_id::text as tx_id, position::text as position from events order by tx_id desc, position desc limit 1',
    );
    if (rows.length === 0) {
      this.onProgress?.(0, 0);
      return;
    }
    const head = { txId: rows[0]!.tx_id, position: rows[0]!.position };
    if (this.onProgress) {
      const counted = await this.client.query<{ n: string }>(
        'select count(*) as n from events where (tx_id, position) <= ($1::xid8, $2::bigint)',
        [head.txId, head.position],
      );
      this.total = Number(counted.rows[0]!.n);
      this.onProgress(0, this.total);
    }
    let from = { stream: '00000000-0000-0000-0000-000000000000', version: 0 };
    for (;;) {
      const page = await this.client.query<StoredEvent>(
        `select ${STORED_EVENT_COLUMNS} from events
         where (stream_id, version) > ($1::uuid, $2::int) and (tx_id, position) <= ($3::xid8, $4::bigint)
         order by stream_id, version limit ${PAGE}`,
        [from.stream, from.version, head.txId, head.position],
      );
      if (page.rows.length > 0) {
        await this.replayInTransaction(page.rows);
        this.done += page.rows.length;
        this.onProgress?.(this.done, Math.max(this.total, this.done));
      }
      if (page.rows.length < PAGE) break;
      const last = page.rows[page.rows.length - 1]!;
      from = { stream: last.stream_id, version: last.version };
    }
    this.after = head;
  }

  /** Events after the last one replayed, in commit order, until a round finds fewer than CATCH_UP_BEFORE_SWAP. */
  async catchUp(): Promise<void> {
    for (;;) {
      let found = 0;
      for (;;) {
        const events = await this.nextPage();
        if (events.length > 0) {
          await this.replayInTransaction(events);
          this.replayed(events);
        }
        found += events.length;
        if (events.length < PAGE) break;
      }
      if (found < CATCH_UP_BEFORE_SWAP) return;
    }
  }

  /** The next page of events after the last one replayed, in commit order, as SQL text (to share a round trip). */
  nextPageQuery(): string {
    return `select ${STORED_EVENT_COLUMNS} from events
      where (tx_id, position) > (${literal(this.after.txId)}::xid8, ${literal(this.after.position)}::bigint)
      order by tx_id, position limit ${PAGE}`;
  }

  async nextPage(): Promise<StoredEvent[]> {
    return (await this.client.query<StoredEvent>(this.nextPageQuery())).rows;
  }

  /** Counts events replayed after the head (their transaction committed, or is still open under the lock). */
  replayed(events: StoredEvent[]): void {
    if (events.length === 0) return;
    const last = events[events.length - 1]!;
    this.after = { txId: last.tx_id, position: last.position };
    this.total += events.length;
    this.done += events.length;
    this.onProgress?.(this.done, Math.max(this.total, this.done));
  }

  private async replayInTransaction(events: StoredEvent[]): Promise<void> {
    try {
      await this.client.query(`begin;\n${replayText(events)};\ncommit`);
    } catch (error) {
      // Which events, from where: a replay that the tables refuse is a bug worth its whole story.
      const first = events[0]!;
      const last = events[events.length - 1]!;
      const kinds = [...new Set(events.map((event) => event.type))].join(', ');
      throw new Error(
        `replaying ${events.length} events (${kinds}) from ${first.tx_id}.${first.position} to ${last.tx_id}.${last.position}, after ${this.after.txId}.${this.after.position}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  mark(): { done: number; total: number; after: Position } {
    return { done: this.done, total: this.total, after: this.after };
  }

  /** Back to a mark, after the transaction that replayed past it rolled back. */
  reset(mark: { done: number; total: number; after: Position }): void {
    this.done = mark.done;
    this.total = mark.total;
    this.after = mark.after;
  }
}
