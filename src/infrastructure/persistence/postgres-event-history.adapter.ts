import type { MikroORM } from '@mikro-orm/postgresql';
import {
  compareCursors,
  decodeCursor,
  encodeCursor,
  EventHistory,
  withCursor,
  type ChannelMessage,
  type HistoryRecord,
  unreadCountMessage,
} from '../../application';
import { isUuid } from './uuid';

interface OutboxRow {
  tx_id: string;
  event_position: string;
  payload: ChannelMessage[];
}

/** Committed below every open writer, after the cursor, in cursor order (see cursor.ts). */
const SETTLED_AFTER = `o.event_position is not null
  and o.tx_id < pg_snapshot_xmin(pg_current_snapshot())
  and (o.tx_id, o.event_position) > (?::xid8, ?::bigint)`;

export class PostgresEventHistory extends EventHistory {
  constructor(private readonly orm: MikroORM) {
    super();
  }

  async inChat(chatId: string, after: string, limit: number): Promise<HistoryRecord[]> {
    if (!isUuid(chatId)) return [];
    const cursor = decodeCursor(after)!;
    const rows = await this.orm.em.fork().execute<OutboxRow[]>(
      `select o.tx_id::text as tx_id, o.event_position::text as event_position, o.payload
       from outbox o where o.chat_id = ? and ${SETTLED_AFTER}
       order by o.tx_id, o.event_position limit ?`,
      [chatId, cursor.txId.toString(), cursor.position.toString(), limit],
    );
    return rows.map(toHistoryRecord);
  }

  /** The chats the user is in now, and those they were removed from since the cursor (to hear of it). */
  async forUser(userId: string, after: string, limit: number): Promise<HistoryRecord[]> {
    const cursor = decodeCursor(after)!;
    const [tx, position] = [cursor.txId.toString(), cursor.position.toString()];
    const rows = await this.orm.em.fork().execute<OutboxRow[]>(
      `select o.tx_id::text as tx_id, o.event_position::text as event_position, o.payload
       from outbox o
       where o.chat_id in (
               select chat_id from chat_participants where user_id = ?
               union
               select e.stream_id from events e
               where e.type = 'ParticipantsRemoved' and e.data -> 'userIds' @> to_jsonb(?::text)
                 and (e.tx_id, e.position) > (?::xid8, ?::bigint))
         and ${SETTLED_AFTER}
       order by o.tx_id, o.event_position limit ?`,
      [userId, userId, tx, position, tx, position, limit],
    );
    return rows.map(toHistoryRecord);
  }

  /**
   * Every current count of the user, not only those changed after the cursor: derived counts carry
   * their source event's cursor, which does not rise across chats, so "after" cannot pick them safely.
   */
  async currentUnreadCounts(userId: string): Promise<ChannelMessage[]> {
    const rows = await this.orm.em.fork().execute<{ chat_id: string; unread_count: number; cursor: string }[]>(
      'select chat_id, unread_count, cursor from unread_counts where user_id = ?',
      [userId],
    );
    return rows
      .sort((a, b) => compareCursors(a.cursor, b.cursor))
      .map((row) => unreadCountMessage(row.chat_id, userId, row.unread_count, row.cursor, new Date().toISOString()));
  }
}

function toHistoryRecord(row: OutboxRow): HistoryRecord {
  const cursor = encodeCursor(row.tx_id, row.event_position);
  return { cursor, messages: row.payload.map((message) => withCursor(message, cursor)) };
}
