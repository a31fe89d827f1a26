import type { MikroORM } from '@mikro-orm/postgresql';
import { compareCursors, decodeCursor, encodeCursor, NO_ROW, type RelayedRecord } from '../../application';
import { OUTBOX_PAGE, readOutboxPage } from '../persistence/outbox-page';
import { isUuid } from '../persistence/uuid';
import { toRelayedRecord } from '../relay/outbox-reader';

/** A chat a receiver starts to follow: its partition and its newest row, as they stand. */
export interface ChatPosition {
  chatId: string;
  partition: number;
  lastRow: string;
}

/** What a receiver reads from PostgreSQL to follow chats by interest (DESIGN.md §4). */
export class FeedStore {
  constructor(private readonly orm: MikroORM) {}

  /** The partitions of chats (those that exist). */
  async partitionsOf(chatIds: string[]): Promise<Map<string, number>> {
    const ids = chatIds.filter(isUuid);
    if (ids.length === 0) return new Map();
    const rows = await this.orm.em.fork().execute<{ id: string; partition: number }[]>(
      'select id::text as id, partition from chats where id = any(?::uuid[])',
      [`{${ids.join(',')}}`],
    );
    return new Map(rows.map((row) => [row.id, row.partition]));
  }

  /** The chats each user is in now, with their partitions, in one read. */
  async chatsOfUsers(userIds: string[]): Promise<Map<string, Map<string, number>>> {
    const byUser = new Map<string, Map<string, number>>(userIds.map((userId) => [userId, new Map()]));
    if (userIds.length === 0) return byUser;
    const rows = await this.orm.em.fork().execute<{ user_id: string; id: string; partition: number }[]>(
      `select p.user_id, c.id::text as id, c.partition from chat_participants p join chats c on c.id = p.chat_id
       where p.user_id in (select jsonb_array_elements_text(?::jsonb))`,
      [JSON.stringify(userIds)],
    );
    for (const row of rows) byUser.get(row.user_id)?.set(row.id, row.partition);
    return byUser;
  }

  /** Each chat's newest row ('0.0' for none): read after subscribing, so nothing later can be missed. */
  async lastRows(chatIds: string[]): Promise<Map<string, string>> {
    const ids = chatIds.filter(isUuid);
    if (ids.length === 0) return new Map();
    const rows = await this.orm.em.fork().execute<{ id: string; last: string | null }[]>(
      `select f.id::text as id,
              (select o.tx_id::text || '.' || o.id::text from outbox o where o.chat_id = f.id
               order by o.tx_id desc, o.id desc limit 1) as last
       from unnest(?::uuid[]) as f(id)`,
      [`{${ids.join(',')}}`],
    );
    return new Map(rows.map((row) => [row.id, row.last ?? NO_ROW]));
  }

  /**
   * The rows of these chats after each one's position and at or before `upTo`, in relay order, one
   * page at a time (`more`: read on after the last). Read from the lowest position of them all and
   * filtered per chat here: the chats of one partition are usually near one another.
   */
  async rowsAfter(chats: Map<string, string>, upTo: string): Promise<{ records: RelayedRecord[]; more: boolean; last: string | null }> {
    const ids = [...chats.keys()].filter(isUuid);
    if (ids.length === 0) return { records: [], more: false, last: null };
    let lowest = upTo;
    for (const id of ids) if (compareCursors(chats.get(id)!, lowest) < 0) lowest = chats.get(id)!;
    const from = decodeCursor(lowest)!;
    const to = decodeCursor(upTo)!;
    const { rows, more } = await readOutboxPage(
      this.orm.em.fork(),
      {
        where: `o.chat_id = any(?::uuid[]) and (o.tx_id, o.id) > (?::xid8, ?::bigint) and (o.tx_id, o.id) <= (?::xid8, ?::bigint)`,
        params: [`{${ids.join(',')}}`, from.txId.toString(), from.position.toString(), to.txId.toString(), to.position.toString()],
        orderBy: 'tx_id, id',
      },
      OUTBOX_PAGE,
    );
    const last = rows.length > 0 ? encodeCursor(rows[rows.length - 1]!.tx_id, rows[rows.length - 1]!.id) : null;
    const records = rows.map((row) => toRelayedRecord(row)).filter((record) => compareCursors(record.position, chats.get(record.chatId)!) > 0);
    return { records, more, last };
  }

  /** Each chat's newest row now, for "caught up" (tests and drains). */
  async heads(chatIds: string[]): Promise<Map<string, string>> {
    return this.lastRows(chatIds);
  }
}
