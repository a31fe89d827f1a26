import type { MikroORM } from '@mikro-orm/postgresql';
import { PARTITION_LOCK_BASE } from './relay-leadership';

/** One ordering partition as PostgreSQL has it: who leads its relay, under which epoch, and how far behind it is. */
export interface PartitionStatus {
  partition: number;
  /** The holder (host:pid) named by the partition's leadership row; null when no relay ever led it. */
  leader: string | null;
  /** Whether that holder's session still holds the partition's lock: false means the row is a dead leader's. */
  led: boolean;
  epoch: number | null;
  /** Seconds since the leader's last heartbeat (it beats every second while it leads). */
  heartbeatAgeSeconds: number | null;
  /** Where the relay saved its progress ("<txid>.<outbox id>"); null before its first save. */
  checkpoint: string | null;
  /** Outbox rows of the partition past its checkpoint: committed, not yet saved as published. */
  lagRows: number;
  /** Age of the oldest of those rows; 0 when there is none. */
  lagSeconds: number;
}

export interface OutboxStatus {
  rows: number;
  /** `rows` is the planner's estimate (a large outbox), not a count. */
  estimated: boolean;
  /** Age of the oldest row kept; null for an empty outbox. */
  oldestAgeSeconds: number | null;
  oldestAt: string | null;
}

/**
 * Every partition in force (`relay_settings`, or `fallbackPartitions` before any relay started), with
 * its leadership row (relay-leadership.ts), whether that leader's session still holds the partition's
 * advisory lock, and its checkpoint against the outbox. The lag is counted on the outbox's
 * (partition, tx_id, id) index from the checkpoint on, so a relay that keeps up costs nearly nothing
 * to look at; a checkpoint is saved at least every few seconds while a relay is busy, so a busy
 * partition shows a few seconds' worth of rows.
 */
export async function readPartitionStatus(orm: MikroORM, fallbackPartitions: number): Promise<PartitionStatus[]> {
  const rows = await orm.em.fork().execute<
    {
      partition: number;
      holder: string | null;
      led: boolean;
      epoch: string | null;
      heartbeat_age: number | null;
      checkpoint: string | null;
      lag_rows: number;
      lag_seconds: number | null;
    }[]
  >(
    `with parts as (
       select p from generate_series(0, coalesce((select partitions from relay_settings), ?::int) - 1) as p
     ),
     locks as (
       select (l.classid::bigint << 32) | l.objid::bigint as key, l.pid from pg_locks l
       where l.locktype = 'advisory' and l.granted and l.objsubid = 1
         and l.database = (select oid from pg_database where datname = current_database())
     )
     select parts.p as partition, r.holder, r.epoch::text as epoch,
       extract(epoch from now() - r.heartbeat_at)::float8 as heartbeat_age,
       coalesce(exists (select 1 from locks k where k.key = ?::bigint + parts.p and k.pid = r.backend_pid), false) as led,
       c.tx_id::text || '.' || c.outbox_id::text as checkpoint,
       behind.lag_rows, behind.lag_seconds
     from parts
     left join relay_leadership r on r.name = 'partition:' || parts.p
     left join relay_checkpoints c on c.name = 'partition:' || parts.p
     cross join lateral (
       select count(*)::int as lag_rows, extract(epoch from now() - min(o.created_at))::float8 as lag_seconds
       from outbox o
       where o.partition = parts.p
         and (o.tx_id, o.id) > (coalesce(c.tx_id, '0'::xid8), coalesce(c.outbox_id, 0))
     ) behind
     order by parts.p`,
    [fallbackPartitions, PARTITION_LOCK_BASE],
  );
  return rows.map((row) => ({
    partition: row.partition,
    leader: row.holder,
    led: row.led,
    epoch: row.epoch === null ? null : Number(row.epoch),
    heartbeatAgeSeconds: row.heartbeat_age === null ? null : Math.max(0, row.heartbeat_age),
    checkpoint: row.checkpoint,
    lagRows: row.lag_rows,
    lagSeconds: Math.max(0, row.lag_seconds ?? 0),
  }));
}

/** Above this many rows (by the planner's estimate) the outbox's size is the estimate, not a count. */
export const OUTBOX_COUNT_EXACT_BELOW = 1_000_000;
/**
 * SQL: the planner's estimate of the outbox's rows (`pg_class.reltuples`, kept by autovacuum), as
 * float8; -1 for a table never vacuumed nor analysed, so that such a table is always counted.
 */
export const OUTBOX_ROWS_ESTIMATE = `(select c.reltuples from pg_class c where c.oid = 'outbox'::regclass)::float8`;
/** The oldest row is looked for among this many first rows in commit order (index-backed). */
const OLDEST_AMONG = 1000;

/**
 * The outbox's size and its oldest row: what retention keeps. Both stay cheap on a large outbox, since
 * an operator runs `status` when something is wrong: the size is counted below `exactBelow` rows and
 * is the planner's estimate (`pg_class.reltuples`, kept by autovacuum) above; the oldest row is the
 * earliest-written of the first rows in commit order (`outbox_commit_order`). A row's time is its
 * transaction's start, and transactions commit in about that order, so that is the oldest row unless a
 * writer waited behind more than that many rows.
 */
export async function readOutboxStatus(orm: MikroORM, options: { exactBelow?: number } = {}): Promise<OutboxStatus> {
  const exactBelow = options.exactBelow ?? OUTBOX_COUNT_EXACT_BELOW;
  const [row] = await orm.em.fork().execute<{ estimate: number; oldest_at: number | null; oldest_age: number | null }[]>(
    `select ${OUTBOX_ROWS_ESTIMATE} as estimate,
            (extract(epoch from min(created_at)) * 1000)::float8 as oldest_at,
            extract(epoch from now() - min(created_at))::float8 as oldest_age
     from (select created_at from outbox order by tx_id, id limit ?) first_rows`,
    [OLDEST_AMONG],
  );
  const estimated = row!.estimate >= exactBelow;
  const rows = estimated
    ? Math.round(row!.estimate)
    : Number((await orm.em.fork().execute<{ rows: string }[]>('select count(*)::text as rows from outbox'))[0]!.rows);
  return {
    rows,
    estimated,
    oldestAt: row!.oldest_at === null ? null : new Date(Number(row!.oldest_at)).toISOString(),
    oldestAgeSeconds: row!.oldest_age === null ? null : Math.max(0, row!.oldest_age),
  };
}
