import type { MikroORM } from '@mikro-orm/postgresql';
import { decodeCursor, encodeCursor, NO_ROW, unpackStamped, type ChannelMessage, type RelayedRecord } from '../../application';
import { OUTBOX_PAGE, readOutboxPage, type OutboxPageLimits, type OutboxRow } from '../persistence/outbox-page';

export interface RelayedPage {
  records: RelayedRecord[];
  /** Cut by a bound: more rows may follow the last record. */
  more: boolean;
}

/**
 * Reads outbox rows in relay order, (transaction, id): every committed row, since appends commit one
 * at a time in that order (persistence/commit-order.ts), so nothing can later appear before a row a
 * reader has passed (DESIGN.md §3).
 */
export class OutboxReader {
  constructor(private readonly orm: MikroORM) {}

  /** The newest committed row: where a receiver starting now begins, and where a caught-up reader is. */
  async head(): Promise<string> {
    const [row] = await this.orm.em.fork().execute<{ tx_id: string; id: string }[]>(
      // Ordered by the raw columns (qualified): the bare names would sort their text, "9" after "10".
      'select o.tx_id::text as tx_id, o.id::text as id from outbox o order by o.tx_id desc, o.id desc limit 1',
    );
    return row ? encodeCursor(row.tx_id, row.id) : '0.0';
  }

  /**
   * One page of rows after `after` (a relay position), and before `before` when given, of the given
   * partitions only when they are given, each linked to its chat's previous row.
   */
  async page(
    after: string,
    options: { before?: string; partitions?: readonly number[]; limits?: Partial<OutboxPageLimits> } = {},
  ): Promise<RelayedPage> {
    const from = decodeCursor(after)!;
    const to = options.before ? decodeCursor(options.before)! : null;
    const conditions = ['(o.tx_id, o.id) > (?::xid8, ?::bigint)'];
    const params: unknown[] = [from.txId.toString(), from.position.toString()];
    if (to) {
      conditions.push('(o.tx_id, o.id) < (?::xid8, ?::bigint)');
      params.push(to.txId.toString(), to.position.toString());
    }
    if (options.partitions) {
      conditions.push('o.partition = any(?::int[])');
      params.push(`{${options.partitions.join(',')}}`);
    }
    const { rows, more } = await readOutboxPage(
      this.orm.em.fork(),
      { where: conditions.join(' and '), params, orderBy: 'tx_id, id', withPrevious: true, chatsWhole: true },
      { ...OUTBOX_PAGE, ...options.limits },
    );
    return { records: rows.map((row) => toRelayedRecord(row)), more };
  }
}

/** The messages are parsed on first use only: the Redis transport writes them from `stored`. */
export function toRelayedRecord(row: OutboxRow): RelayedRecord {
  const position = encodeCursor(row.tx_id, row.id);
  // Domain rows get their event's cursor; derived rows (projections) carry the cursor of their source event.
  const cursor = row.event_position === null ? null : encodeCursor(row.tx_id, row.event_position);
  const stored = { json: row.payload, cursor };
  let messages: ChannelMessage[] | undefined;
  return {
    position,
    previous: row.previous ?? NO_ROW,
    chatId: row.chat_id,
    partition: row.partition,
    membership: row.membership,
    stored,
    get messages() {
      messages ??= unpackStamped(JSON.parse(stored.json) as unknown[], cursor);
      return messages;
    },
  };
}
