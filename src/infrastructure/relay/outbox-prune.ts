import type { MikroORM } from '@mikro-orm/postgresql';
import { connectDirect, type PostgresConnectionOptions } from '../persistence/postgres-connection';
import { PooledClients } from '../persistence/write/pooled-client';
import { OUTBOX_COUNT_EXACT_BELOW, OUTBOX_ROWS_ESTIMATE } from './partition-status';

/** Runs one statement, `$1`-style parameters, answers its rows. */
export type PruneQuery = <R>(sql: string, params: unknown[]) => Promise<R[]>;

export interface PruneOptions {
  /** Rows older than this (by the time their transaction wrote them) may go. */
  retentionMs: number;
  /** The time the retention counts back from: given, so that tests need not wait for days. */
  now: Date;
  /** Rows looked at per statement (1000): each batch is one short transaction beside the writers. */
  batchSize?: number;
  /** Count what would go, delete nothing. */
  dryRun?: boolean;
  /**
   * Rows of the partitions looked at so far against the rows older than the retention in all (read
   * once, up front, when this is given): for a progress bar. On a large outbox (`exactTotalBelow`
   * rows or more, by the planner's estimate) the total is left unknown: counting the old rows is a
   * scan of the whole table (no index has the rows' times), which would come before any work.
   */
  onProgress?(done: number, total?: number): void;
  /** The outbox size up to which the progress total is counted (OUTBOX_COUNT_EXACT_BELOW). */
  exactTotalBelow?: number;
  /** Between batches, so that a large backlog is pruned in small steps beside the writers (0). */
  pauseMs?: number;
  /** Asked between batches: true stops the run (the process is stopping). */
  stopping?(): boolean;
}

export interface PruneSummary {
  /** Rows deleted (or, in a dry run, that would be). */
  deleted: number;
  /** Rows older than the retention kept because each is the newest published row of its chat. */
  keptNewest: number;
  /** Rows older than the retention that a relay has not published yet: never pruned. */
  unpublished: number;
  /** Partitions with rows deleted. */
  partitions: number;
}

const BATCH = 1000;

/**
 * One advisory lock for every pruner of the database (relays' background pruners and `parley outbox
 * prune` alike): one at a time. Apart from the relay leadership's keys (relay-leadership.ts).
 */
const PRUNER_LOCK_KEY = 7_071_021_600;

/**
 * One batch of a partition, in relay order from `after`, in one statement and so one transaction: the
 * batch's rows older than the cutoff and published (at or before the partition's relay checkpoint),
 * less each chat's newest published row, are deleted, and the partition's watermark in `outbox_pruned`
 * rises to the newest transaction deleted from, in the same transaction (a resume reads both alike).
 *
 * Why each chat keeps its newest published row: a rebuild of the read models reads a chat's ordering
 * partition from its rows (inline-projections.ts), the relay links each row to the chat's row before it,
 * and a receiver starts following a chat at its newest row; with one row left per chat all three stay as
 * they were. A row is deleted only once a later row of its chat is published, so a receiver that has
 * the chat's last row hears the next one with a link to it, never one to a deleted row.
 *
 * `$1` partition, `$2`/`$3` after (tx, id), `$4` batch size, `$5` cutoff, `$6`/`$7` checkpoint (tx, id),
 * `$8` dry run.
 */
const PRUNE_BATCH = `
  with batch as materialized (
    select o.id, o.tx_id, o.chat_id, o.created_at from outbox o
    where o.partition = $1 and (o.tx_id, o.id) > ($2::xid8, $3::bigint)
    order by o.tx_id, o.id limit $4),
  old as materialized (
    select b.* from batch b where b.created_at < $5::timestamptz and (b.tx_id, b.id) <= ($6::xid8, $7::bigint)),
  doomed as materialized (
    select d.id, d.tx_id from old d
    where d.chat_id is null or exists (
      select 1 from outbox n where n.chat_id = d.chat_id
        and (n.tx_id, n.id) > (d.tx_id, d.id) and (n.tx_id, n.id) <= ($6::xid8, $7::bigint))),
  mark as (
    insert into outbox_pruned as w (partition, tx_id)
    select $1, (select d.tx_id from doomed d order by d.tx_id desc limit 1) where not $8 and exists (select 1 from doomed)
    on conflict (partition) do update set tx_id = greatest(w.tx_id, excluded.tx_id), pruned_at = now()),
  gone as (delete from outbox o using doomed d where not $8 and o.id = d.id returning 1)
  select (select count(*) from batch)::int as scanned, (select count(*) from old)::int as old,
         (select count(*) from doomed)::int as doomed, (select count(*) from gone)::int as gone,
         (select count(*) from batch b where b.created_at < $5::timestamptz and (b.tx_id, b.id) > ($6::xid8, $7::bigint))::int as unpublished,
         (select b.tx_id::text || '.' || b.id::text from batch b order by b.tx_id desc, b.id desc limit 1) as last`;

/** Every partition a relay has published from, with its checkpoint: rows after it are never touched. */
const CHECKPOINTS = `
  select substr(name, length('partition:') + 1)::int as partition, tx_id::text as tx_id, outbox_id::text as outbox_id
  from relay_checkpoints where name like 'partition:%' order by 1`;

/**
 * Rows older than the cutoff, published or not: the whole of the work, for a progress bar; counted
 * only while the planner's estimate of the outbox's size is below `$2` (else null).
 */
const OLD_ROWS = `
  select case when ${OUTBOX_ROWS_ESTIMATE} < $2::float8
              then (select count(*) from outbox where created_at < $1::timestamptz)::int end as count`;

interface BatchRow {
  scanned: number;
  old: number;
  doomed: number;
  gone: number;
  unpublished: number;
  last: string | null;
}

/**
 * Deletes outbox rows older than the retention that every relay has published, partition by partition,
 * from the oldest, in batches (DESIGN.md §4 "Resume without gaps"; docs/architecture.md, Outbox
 * retention). Events are never touched. A partition is left at its first batch that holds a row too new
 * or not yet published: rows are written in about the order they are relayed, so what follows is newer.
 */
export async function pruneOutbox(query: PruneQuery, options: PruneOptions): Promise<PruneSummary> {
  const cutoff = new Date(options.now.getTime() - options.retentionMs).toISOString();
  const batchSize = options.batchSize ?? BATCH;
  const summary: PruneSummary = { deleted: 0, keptNewest: 0, unpublished: 0, partitions: 0 };
  const total = options.onProgress ? ((await query<{ count: number | null }>(OLD_ROWS, [cutoff, options.exactTotalBelow ?? OUTBOX_COUNT_EXACT_BELOW]))[0]!.count ?? undefined) : undefined;
  let done = 0;
  options.onProgress?.(0, total);
  const checkpoints = await query<{ partition: number; tx_id: string; outbox_id: string }>(CHECKPOINTS, []);
  for (const checkpoint of checkpoints) {
    let after = ['0', '0'];
    let deletedHere = 0;
    for (;;) {
      if (options.stopping?.()) return summary;
      const [batch] = await query<BatchRow>(PRUNE_BATCH, [
        checkpoint.partition, after[0], after[1], batchSize, cutoff, checkpoint.tx_id, checkpoint.outbox_id, options.dryRun === true,
      ]);
      const removed = options.dryRun ? batch!.doomed : batch!.gone;
      deletedHere += removed;
      summary.deleted += removed;
      summary.keptNewest += batch!.old - batch!.doomed;
      summary.unpublished += batch!.unpublished;
      done += batch!.old + batch!.unpublished;
      options.onProgress?.(total === undefined ? done : Math.min(done, total), total);
      // A short batch is the partition's end; one with a row too new or unpublished is where it stops.
      if (batch!.scanned < batchSize || batch!.old < batch!.scanned || batch!.last === null) break;
      after = batch!.last.split('.');
      if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
    if (deletedHere > 0) summary.partitions++;
  }
  options.onProgress?.(total ?? done, total ?? done);
  return summary;
}

/**
 * Runs `work` as the only pruner of the database: under a session advisory lock on a connection of its
 * own (a pooled one would be held for the whole run); null, without running it, when another pruner
 * holds the lock. The embedded database serves one process, whose pruner runs alone anyway, on a pooled
 * connection per statement.
 */
export async function asTheOnlyPruner<T>(
  orm: MikroORM,
  databaseUrl: string | undefined,
  connection: PostgresConnectionOptions,
  work: (query: PruneQuery) => Promise<T>,
): Promise<T | null> {
  if (!databaseUrl) {
    const pool = new PooledClients(orm);
    return work(<R>(sql: string, params: unknown[]) => pool.with(async (client) => (await client.query(sql, params)).rows as R[]));
  }
  const client = await connectDirect(databaseUrl, connection, 'parley-outbox-pruner');
  try {
    const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1::bigint) as locked', [PRUNER_LOCK_KEY]);
    if (!rows[0]!.locked) return null;
    // Ending the session releases the lock.
    return await work(async <R>(sql: string, params: unknown[]) => (await client.query(sql, params)).rows as R[]);
  } finally {
    await client.end().catch(() => undefined);
  }
}
