import type { MikroORM } from '@mikro-orm/postgresql';
import {
  ChatReadModel,
  type ChatMembership,
  type ChatView,
  type MessagePageRequest,
  type MessagePageView,
  type MessageReadView,
  type MessageView,
  type UnreadCountView,
} from '../../application';
import { encodeCursor, START_CURSOR } from '../../application';
import { CHAT_SELECT, MESSAGE_COLUMNS, toChatView, toMessageView, type ChatRow, type MessageRow } from './chat-view-rows';
import { UNREAD_COUNT } from './unread-count';
import { isUuid } from './uuid';

/**
 * The newest committed event by (tx_id, position), ordered by the raw columns (qualified): the bare
 * names would sort their text, "9" after "10".
 */
const NEWEST_EVENT = `select e.tx_id::text as tx_id, e.position::text as position from events e order by e.tx_id desc, e.position desc limit 1`;

export class PostgresChatReadModel extends ChatReadModel {
  constructor(private readonly orm: MikroORM) {
    super();
  }

  private get em() {
    return this.orm.em.fork();
  }

  async membership(chatId: string, userId: string): Promise<ChatMembership> {
    if (!isUuid(chatId)) return { exists: false, isParticipant: false };
    // One statement, so one snapshot: the membership is as of exactly that newest event.
    const [row] = await this.em.execute<{ partition: number | null; is_participant: boolean; tx_id: string | null; position: string | null }[]>(
      `select (select partition from chats where id = ?) as partition,
              exists(select 1 from chat_participants where chat_id = ? and user_id = ?) as is_participant,
              latest.tx_id, latest.position
       from (select 1) one
       left join (${NEWEST_EVENT}) latest on true`,
      [chatId, chatId, userId],
    );
    return {
      exists: row!.partition !== null,
      isParticipant: row!.is_participant,
      asOf: row!.tx_id === null ? START_CURSOR : encodeCursor(row!.tx_id, row!.position!),
      ...(row!.partition === null ? {} : { partition: row!.partition }),
    };
  }

  async chat(chatId: string, viewerId: string): Promise<ChatView | null> {
    if (!isUuid(chatId)) return null;
    const [row] = await this.em.execute<ChatRow[]>(
      `${CHAT_SELECT} left join chat_participants me on me.chat_id = c.id and me.user_id = ? where c.id = ?`,
      [viewerId, chatId],
    );
    return row ? toChatView(row) : null;
  }

  async chatsOf(userId: string): Promise<ChatView[]> {
    const rows = await this.em.execute<ChatRow[]>(
      `${CHAT_SELECT} join chat_participants me on me.chat_id = c.id and me.user_id = ?
       order by c.updated_at desc, c.id`,
      [userId],
    );
    return rows.map(toChatView);
  }

  async chatAddressesOf(userId: string): Promise<{ chatId: string; partition: number }[]> {
    const rows = await this.em.execute<{ chat_id: string; partition: number }[]>(
      `select me.chat_id, c.partition from chat_participants me join chats c on c.id = me.chat_id where me.user_id = ?`,
      [userId],
    );
    return rows.map((row) => ({ chatId: row.chat_id, partition: row.partition }));
  }

  async sharingAChatWith(viewerId: string, userIds: readonly string[]): Promise<Set<string>> {
    const others = [...new Set(userIds)].filter((userId) => userId !== viewerId);
    const sharing = new Set(userIds.includes(viewerId) ? [viewerId] : []);
    if (others.length === 0) return sharing;
    // The viewer's chats are few next to all chats: start from them, then look for the others in them.
    const rows = await this.em.execute<{ user_id: string }[]>(
      `select distinct them.user_id from chat_participants me
       join chat_participants them on them.chat_id = me.chat_id
       where me.user_id = ? and them.user_id in (select jsonb_array_elements_text(?::jsonb))`,
      // As JSON: user ids may hold any character, an array literal's quoting included.
      [viewerId, JSON.stringify(others)],
    );
    for (const row of rows) sharing.add(row.user_id);
    return sharing;
  }

  /** A count is current as of its chat's latest event, whose cursor it carries. */
  async unreadCounts(userId: string): Promise<UnreadCountView[]> {
    const rows = await this.em.execute<{ chat_id: string; unread_count: number; cursor: string }[]>(
      `select me.chat_id, ${UNREAD_COUNT} as unread_count, c.cursor
       from chat_participants me join chats c on c.id = me.chat_id
       where me.user_id = ? order by c.updated_at desc, c.id`,
      [userId],
    );
    return rows.map((row) => ({ chatId: row.chat_id, userId, unreadCount: row.unread_count, cursor: row.cursor }));
  }

  async unreadCountOf(chatId: string, userId: string): Promise<number> {
    if (!isUuid(chatId)) return 0;
    const [row] = await this.em.execute<{ unread_count: number }[]>(
      `select ${UNREAD_COUNT} as unread_count from chat_participants me join chats c on c.id = me.chat_id
       where me.chat_id = ? and me.user_id = ?`,
      [chatId, userId],
    );
    return row?.unread_count ?? 0;
  }

  async unreadCountsIn(chatId: string, userIds: readonly string[] | 'all'): Promise<UnreadCountView[]> {
    if (!isUuid(chatId) || userIds.length === 0) return [];
    const rows = await this.em.execute<{ user_id: string; unread_count: number; cursor: string }[]>(
      `select me.user_id, ${UNREAD_COUNT} as unread_count, c.cursor
       from chat_participants me join chats c on c.id = me.chat_id
       where me.chat_id = ? ${userIds === 'all' ? '' : 'and me.user_id in (select jsonb_array_elements_text(?::jsonb))'}`,
      userIds === 'all' ? [chatId] : [chatId, JSON.stringify(userIds)],
    );
    return rows.map((row) => ({ chatId: chatId.toLowerCase(), userId: row.user_id, unreadCount: row.unread_count, cursor: row.cursor }));
  }

  async messages(chatId: string, page: MessagePageRequest): Promise<MessagePageView> {
    if (!isUuid(chatId)) return { messages: [], hasMore: false };
    const probe = page.limit + 1;
    const base = `select ${MESSAGE_COLUMNS} from messages m where m.chat_id = ? and m.deleted_at is null`;
    let rows: MessageRow[];
    if (page.direction === 'after') {
      rows = await this.em.execute(`${base} and m.seq > ? order by m.seq asc limit ?`, [chatId, page.seq, probe]);
    } else if (page.direction === 'before') {
      rows = await this.em.execute(`${base} and m.seq < ? order by m.seq desc limit ?`, [chatId, page.seq, probe]);
    } else {
      rows = await this.em.execute(`${base} order by m.seq desc limit ?`, [chatId, probe]);
    }
    const hasMore = rows.length > page.limit;
    const kept = rows.slice(0, page.limit).map(toMessageView);
    // Pages are always in ascending seq; backwards reads fetched them newest first.
    if (page.direction !== 'after') kept.reverse();
    return { messages: kept, hasMore };
  }

  async message(messageId: string): Promise<MessageView | null> {
    if (!isUuid(messageId)) return null;
    const [row] = await this.em.execute<MessageRow[]>(`select ${MESSAGE_COLUMNS} from messages m where m.id = ?`, [
      messageId,
    ]);
    return row ? toMessageView(row) : null;
  }

  async messageAsSeenBy(messageId: string, viewerId: string): Promise<{ message: MessageView; isParticipant: boolean } | null> {
    if (!isUuid(messageId)) return null;
    const [row] = await this.em.execute<(MessageRow & { is_participant: boolean })[]>(
      `select ${MESSAGE_COLUMNS},
              exists(select 1 from chat_participants p where p.chat_id = m.chat_id and p.user_id = ?) as is_participant
       from messages m where m.id = ?`,
      [viewerId, messageId],
    );
    return row ? { message: toMessageView(row), isParticipant: row.is_participant } : null;
  }

  async readsOf(messageId: string): Promise<MessageReadView[]> {
    if (!isUuid(messageId)) return [];
    const rows = await this.em.execute<ReadRow[]>(
      `select message_id, chat_id, user_id, read_at, cursor from message_reads
       where message_id = ? order by read_at, user_id`,
      [messageId],
    );
    return rows.map(toReadView);
  }

  async readOf(messageId: string, userId: string): Promise<MessageReadView | null> {
    if (!isUuid(messageId)) return null;
    const [row] = await this.em.execute<ReadRow[]>(
      `select message_id, chat_id, user_id, read_at, cursor from message_reads where message_id = ? and user_id = ?`,
      [messageId, userId],
    );
    return row ? toReadView(row) : null;
  }

  async readMark(chatId: string, userId: string): Promise<MessageReadView | null> {
    if (!isUuid(chatId)) return null;
    const [row] = await this.em.execute<ReadRow[]>(
      `select read_message_id as message_id, chat_id, user_id, read_at, read_cursor as cursor
       from chat_participants where chat_id = ? and user_id = ? and read_seq > 0`,
      [chatId, userId],
    );
    return row ? toReadView(row) : null;
  }

  /**
   * The newest committed event. Appends commit one at a time in cursor order (commit-order.ts), so
   * every event ordered before it is committed too: the answer includes every mutation that has
   * answered, and a later `after: head` can never skip a late commit. Nothing to wait for.
   */
  async head(): Promise<string> {
    const [latest] = await this.em.execute<{ tx_id: string; position: string }[]>(NEWEST_EVENT);
    return latest ? encodeCursor(latest.tx_id, latest.position) : START_CURSOR;
  }

}

interface ReadRow {
  message_id: string;
  chat_id: string;
  user_id: string;
  read_at: Date;
  cursor: string;
}

function toReadView(row: ReadRow): MessageReadView {
  return {
    messageId: row.message_id,
    chatId: row.chat_id,
    userId: row.user_id,
    readAt: new Date(row.read_at),
    cursor: row.cursor,
  };
}
