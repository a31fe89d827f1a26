import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * An outbox row as readers take it: positions as text, and the stored channel messages as their JSON
 * text, which the relay writes to Redis as it is (redis/feed-wire.ts) and other readers parse.
 */
export interface OutboxRow {
  id: string;
  tx_id: string;
  event_position: string | null;
  payload: string;
  chat_id: string;
  partition: number;
  membership: boolean;
  /** The position of the same chat's row before this one ('0.0' when none); read only when asked for. */
  previous?: string;
  /** A column the caller asked for (`extra`). */
  extra?: unknown;
}

export interface OutboxPageLimits {
  rows: number;
  /** Bytes of stored JSON; a page holds at least one row, however large. */
  bytes: number;
}

/** Pages that every reader (relay, gap fill, replay, resume) takes from the outbox. */
export const OUTBOX_PAGE: OutboxPageLimits = { rows: 500, bytes: 1024 * 1024 };

/**
 * One page of outbox rows, bounded in rows and in bytes (DESIGN.md §4: a page of maximum-size
 * messages must not be hundreds of megabytes). `where` filters rows of `outbox o`; `orderBy` is the
 * page's order, written on the raw columns (xid8 and bigint, never their text). `more` is true when the
 * page was cut by either bound, so the caller reads on from its last row.
 */
export async function readOutboxPage(
  em: EntityManager,
  query: {
    where: string;
    params: unknown[];
    orderBy: 'tx_id, id' | 'tx_id, event_position';
    withPrevious?: boolean;
    /**
     * Every row of a chat after the page's start that could be its next row matches `where` (a position
     * bound, partitions: never a time): a chat's earlier row among the candidates is then its previous
     * row, and needs no lookup.
     */
    chatsWhole?: boolean;
    /** One more column, an SQL expression on `o` (the outbox row), answered as `extra`. */
    extra?: { sql: string; params: unknown[] };
  },
  limits: OutboxPageLimits = OUTBOX_PAGE,
): Promise<{ rows: OutboxRow[]; more: boolean }> {
  const rows = await em.execute<(OutboxRow & { fetched: number })[]>(
    `with candidates as (
       select o.id, o.tx_id, o.event_position, o.payload::text as payload, o.chat_id, o.partition, o.membership,
              ${query.extra ? query.extra.sql : 'null'} as extra
       from outbox o where ${query.where} order by ${prefixed(query.orderBy, 'o')} limit ?),
     sized as (select c.*, octet_length(c.payload) as bytes${query.withPrevious && query.chatsWhole ? `, ${PREVIOUS_IN_PAGE} as linked` : ', null as linked'} from candidates c),
     running as (
       select s.*, sum(s.bytes) over (order by ${query.orderBy} rows unbounded preceding) as total from sized s)
     select r.id::text as id, r.tx_id::text as tx_id, r.event_position::text as event_position, r.payload,
            r.chat_id::text as chat_id, r.partition, r.membership, r.extra,
            ${query.withPrevious ? `${PREVIOUS_ROW} as previous,` : ''}
            (select count(*) from candidates)::int as fetched
     from running r where r.total - r.bytes < ? order by ${prefixed(query.orderBy, 'r')}`,
    [...(query.extra?.params ?? []), ...query.params, limits.rows, limits.bytes],
  );
  const fetched = rows[0]?.fetched ?? 0;
  return {
    rows: rows.map(({ fetched: _, ...row }) => row),
    more: fetched === limits.rows || rows.length < fetched,
  };
}

/**
 * The chat's row before `c` among the page's candidates, if there is one there. A page cut by its byte
 * bound keeps a prefix of them, so a row it keeps finds its link among the rows it keeps too.
 */
const PREVIOUS_IN_PAGE = `case when c.chat_id is not null then lag(c.tx_id::text || '.' || c.id::text) over (partition by c.chat_id order by c.tx_id, c.id) end`;

/**
 * The chat's row before `r` in relay order: from the page when the chat has an earlier row in it (most
 * rows of a busy page; coalesce looks no further then), else one step back along `outbox_chat_order`.
 * Every row before a committed one is committed (commit-order.ts), so the link never names a row that
 * could still appear.
 */
const PREVIOUS_ROW = `coalesce(r.linked, (select p.tx_id::text || '.' || p.id::text from outbox p
   where p.chat_id = r.chat_id and (p.tx_id, p.id) < (r.tx_id, r.id) order by p.tx_id desc, p.id desc limit 1), '0.0')`;

/**
 * Qualified, so that ORDER BY sorts the raw columns: a bare name would be the output column of the
 * same name, which the final select turns into text, and "10" sorts before "9".
 */
function prefixed(orderBy: string, table: string): string {
  return orderBy.split(', ').map((column) => `${table}.${column}`).join(', ');
}
