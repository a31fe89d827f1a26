import type { MikroORM } from '@mikro-orm/postgresql';
import {
  compareCursors,
  decodeCursor,
  encodeCursor,
  EventHistory,
  unpackStamped,
  unreadCountMessage,
  type ChannelMessage,
  type HistoryPage,
  type PruningCheck,
  type ResumeScope,
} from '../../application';
import { readOutboxPage, type OutboxRow } from './outbox-page';
import { missedByPruning } from './pruned-history';
import { UNREAD_COUNT } from './unread-count';
import { isUuid } from './uuid';

/** Rows of events (every committed one: see commit-order.ts), after the cursor. */
const EVENT_ROWS_AFTER = `o.event_position is not null and (o.tx_id, o.event_position) > (?::xid8, ?::bigint)`;

export class PostgresEventHistory extends EventHistory {
  constructor(private readonly orm: MikroORM) {
    super();
  }

  async head(): Promise<string> {
    const [row] = await this.orm.em.fork().execute<{ cursor: string | null }[]>(
      `select (select e.tx_id::text || '.' || e.position::text from events e order by e.tx_id desc, e.position desc limit 1) as cursor`,
    );
    return row?.cursor ?? '0.0';
  }

  async inChat(chatId: string, after: string): Promise<HistoryPage> {
    if (!isUuid(chatId)) return { records: [], more: false };
    const cursor = decodeCursor(after)!;
    return this.page(`o.chat_id = ? and ${EVENT_ROWS_AFTER}`, [chatId, cursor.txId.toString(), cursor.position.toString()]);
  }

  /**
   * The chats the user is in now, and those they were removed from since the cursor (to hear of it).
   * Posts name no recipients: whether the user was a participant right after each row's event is read
   * beside it (the latest membership event of theirs at or before it, along `events_membership`).
   */
  async forUser(userId: string, after: string): Promise<HistoryPage> {
    const cursor = decodeCursor(after)!;
    const [tx, position] = [cursor.txId.toString(), cursor.position.toString()];
    const member = {
      sql: `(select e.type <> 'ParticipantsRemoved' from events e
             where e.stream_id = o.chat_id and e.type in ('ChatCreated', 'ParticipantsAdded', 'ParticipantsRemoved')
               and (e.tx_id, e.position) <= (o.tx_id, o.event_position)
               and (e.data -> 'userIds' @> to_jsonb(?::text) or e.data -> 'participantIds' @> to_jsonb(?::text))
             order by e.tx_id desc, e.position desc limit 1)`,
      params: [userId, userId],
    };
    return this.page(
      `o.chat_id in (
         select chat_id from chat_participants where user_id = ?
         union
         select e.stream_id from events e
         where e.type = 'ParticipantsRemoved' and e.data -> 'userIds' @> to_jsonb(?::text)
           and (e.tx_id, e.position) > (?::xid8, ?::bigint))
       and ${EVENT_ROWS_AFTER}`,
      [userId, userId, tx, position, tx, position],
      { extra: member, recipient: userId },
    );
  }

  /** The latest event at or before the cursor that changed the user's membership decides. */
  async wasParticipantAt(chatId: string, userId: string, cursor: string): Promise<boolean> {
    if (!isUuid(chatId)) return false;
    const at = decodeCursor(cursor)!;
    const [row] = await this.orm.em.fork().execute<{ type: string }[]>(
      `select e.type from events e
       where e.stream_id = ? and e.type in ('ChatCreated', 'ParticipantsAdded', 'ParticipantsRemoved')
         and (e.tx_id, e.position) <= (?::xid8, ?::bigint)
         and (e.data -> 'userIds' @> to_jsonb(?::text) or e.data -> 'participantIds' @> to_jsonb(?::text))
       order by e.tx_id desc, e.position desc limit 1`,
      [chatId, at.txId.toString(), at.position.toString(), userId, userId],
    );
    return row !== undefined && row.type !== 'ParticipantsRemoved';
  }

  /**
   * Every current count of the user, not only those changed after the cursor: a count carries the
   * cursor of its chat's latest event, which does not rise across chats, so "after" cannot pick them.
   */
  async currentUnreadCounts(userId: string): Promise<ChannelMessage[]> {
    const rows = await this.orm.em.fork().execute<{ chat_id: string; unread_count: number; cursor: string }[]>(
      `select me.chat_id, ${UNREAD_COUNT} as unread_count, c.cursor
       from chat_participants me join chats c on c.id = me.chat_id where me.user_id = ?`,
      [userId],
    );
    return rows
      .sort((a, b) => compareCursors(a.cursor, b.cursor))
      .map((row) => unreadCountMessage(row.chat_id, userId, row.unread_count, row.cursor, new Date().toISOString()));
  }

  missedByPruning(scope: ResumeScope, unlessMark?: string): Promise<PruningCheck> {
    return missedByPruning(this.orm.em.fork(), scope, unlessMark);
  }

  private async page(where: string, params: unknown[], user?: { extra: { sql: string; params: unknown[] }; recipient: string }): Promise<HistoryPage> {
    const { rows, more } = await readOutboxPage(this.orm.em.fork(), { where, params, orderBy: 'tx_id, event_position', extra: user?.extra });
    return { records: rows.map((row) => toHistoryRecord(row, user?.recipient)), more };
  }
}

/** `recipient`: the user a user-scoped history is read for; `row.extra` says whether they were a participant then. */
function toHistoryRecord(row: OutboxRow, recipient?: string): HistoryRecord {
  const cursor = encodeCursor(row.tx_id, row.event_position!);
  const messages = unpackStamped(JSON.parse(row.payload) as unknown[], cursor);
  for (const message of messages) {
    message.meta.partition = row.partition;
    if (recipient !== undefined && message.meta.userIds === undefined && isPostListMessage(message)) {
      message.meta.userIds = row.extra === true && message.payload.senderId !== recipient ? [recipient] : [];
    }
  }
  return { cursor, partition: row.partition, messages };
}

function isPostListMessage(message: ChannelMessage): boolean {
  return message.channel === 'chatMessageNotification' || message.channel === 'messageUpdateForChatList';
}

type HistoryRecord = HistoryPage['records'][number];
