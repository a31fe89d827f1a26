import type { ChatView, MessageView } from '../../application';
import { UNREAD_COUNT } from './unread-count';

/** The SQL and row shapes of a chat and a message as the API shows them, for queries and for the write path's answers. */
export const MESSAGE_COLUMNS = `m.id, m.chat_id, m.sender_id, m.content, m.seq, m.created_at, m.edited_at,
  m.deleted_at, m.cursor`;

/** Chats as seen by a viewer: expects the viewer's participant row joined as `me`. */
export const CHAT_SELECT = `
  select c.id, c.name, c.created_by, c.created_at, c.updated_at, c.cursor,
    coalesce(${UNREAD_COUNT}, 0) as unread_count,
    (select json_agg(p.user_id order by p.joined_at, p.user_id) from chat_participants p where p.chat_id = c.id)
      as participant_ids,
    (select row_to_json(lm) from (select ${MESSAGE_COLUMNS} from messages m where m.id = c.last_message_id) lm)
      as last_message
  from chats c`;

export interface ChatRow {
  id: string;
  name: string;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  cursor: string;
  unread_count: number;
  participant_ids: string[] | null;
  last_message: (Omit<MessageRow, 'created_at' | 'edited_at' | 'deleted_at'> & {
    created_at: string;
    edited_at: string | null;
    deleted_at: string | null;
  }) | null;
}

export interface MessageRow {
  id: string;
  chat_id: string;
  sender_id: string;
  content: string;
  seq: number;
  created_at: Date | string;
  edited_at: Date | string | null;
  deleted_at: Date | string | null;
  cursor: string;
}

export function toChatView(row: ChatRow): ChatView {
  return {
    id: row.id,
    name: row.name,
    participantIds: row.participant_ids ?? [],
    createdBy: row.created_by,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    lastMessage: row.last_message ? toMessageView(row.last_message) : null,
    unreadCount: row.unread_count,
    cursor: row.cursor,
  };
}

export function toMessageView(row: MessageRow): MessageView {
  return {
    id: row.id,
    chatId: row.chat_id,
    senderId: row.sender_id,
    content: row.content,
    seq: row.seq,
    createdAt: new Date(row.created_at),
    isEdited: row.edited_at !== null,
    editedAt: row.edited_at === null ? null : new Date(row.edited_at),
    isDeleted: row.deleted_at !== null,
    cursor: row.cursor,
  };
}
