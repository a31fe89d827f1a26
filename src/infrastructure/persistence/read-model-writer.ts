import type { ChatEvent } from '../../domain';

/**
 * The read models that must be read-your-writes (chats, participants, messages, receipts), written
 * in the same statement as the event they follow, so a query after a mutation always sees its effect
 * and an append costs one round trip.
 *
 * Each part is the body of a data-modifying CTE of that statement. Parts of one statement see the
 * database as it was before the statement, and may modify a row only once, so each event touches
 * `chats` in exactly one part. `CURSOR` is the SQL for the new event's cursor.
 */
export interface SqlPart {
  sql: string;
  params: unknown[];
}

export const CURSOR = '(select cursor from new_cursor)';

export function readModelParts(event: ChatEvent, version: number, occurredAt: string): SqlPart[] {
  switch (event.type) {
    case 'ChatCreated': {
      const { chatId, name, createdBy, createdAt, participantIds } = event.data;
      return [
        {
          sql: `insert into chats (id, name, created_by, created_at, updated_at, cursor) values (?, ?, ?, ?, ?, ${CURSOR})`,
          params: [chatId, name, createdBy, createdAt, createdAt],
        },
        addParticipants(chatId, participantIds, createdAt),
      ];
    }
    case 'ChatRenamed':
      return [touchChat(event.data.chatId, occurredAt, { name: event.data.name })];
    case 'ParticipantsAdded':
      return [addParticipants(event.data.chatId, event.data.userIds, event.data.addedAt), touchChat(event.data.chatId, occurredAt)];
    case 'ParticipantsRemoved':
      return [
        {
          sql: `delete from chat_participants where chat_id = ? and user_id in (select jsonb_array_elements_text(?::jsonb))`,
          params: [event.data.chatId, JSON.stringify(event.data.userIds)],
        },
        touchChat(event.data.chatId, occurredAt),
      ];
    case 'MessagePosted': {
      const { chatId, messageId, senderId, content, seq, clientMessageId, postedAt } = event.data;
      return [
        {
          sql: `insert into messages (id, chat_id, seq, sender_id, content, client_message_id, created_at, cursor, version)
                values (?, ?, ?, ?, ?, ?, ?, ${CURSOR}, ?)`,
          params: [messageId, chatId, seq, senderId, content, clientMessageId, postedAt, version],
        },
        touchChat(chatId, occurredAt, { last_seq: seq, last_message_id: messageId }),
        moveReadMark(chatId, senderId, seq, messageId, postedAt),
      ];
    }
    case 'MessageEdited':
      return [
        {
          sql: `update messages set content = ?, edited_at = ?, cursor = ${CURSOR} where id = ?`,
          params: [event.data.content, event.data.editedAt, event.data.messageId],
        },
        touchChat(event.data.chatId, occurredAt),
      ];
    case 'MessageDeleted': {
      const { chatId, messageId, deletedAt } = event.data;
      return [
        {
          sql: `update messages set deleted_at = ?, deleted_version = ?, cursor = ${CURSOR} where id = ?`,
          params: [deletedAt, version, messageId],
        },
        // The chat list shows the latest message that still exists; this statement does not see the
        // deletion above, so the deleted message is left out by id.
        {
          sql: `update chats set cursor = ${CURSOR}, updated_at = greatest(updated_at, ?),
                  last_message_id = case when last_message_id = ? then (
                    select id from messages where chat_id = ? and deleted_at is null and id <> ? order by seq desc limit 1)
                  else last_message_id end
                where id = ?`,
          params: [occurredAt, messageId, chatId, messageId, chatId],
        },
      ];
    }
    case 'MessageRead': {
      const { chatId, messageId, userId, seq, readAt } = event.data;
      return [
        {
          sql: `insert into message_reads (message_id, user_id, chat_id, seq, read_at, cursor)
                values (?, ?, ?, ?, ?, ${CURSOR}) on conflict (message_id, user_id) do nothing`,
          params: [messageId, userId, chatId, seq, readAt],
        },
        moveReadMark(chatId, userId, seq, messageId, readAt),
        // Reading is not activity: it must not reorder everyone's chat list.
        { sql: `update chats set cursor = ${CURSOR} where id = ?`, params: [chatId] },
      ];
    }
  }
}

/** Every event moves the chat's cursor and its activity time, plus whatever columns it changes. */
function touchChat(chatId: string, occurredAt: string, columns: Record<string, unknown> = {}): SqlPart {
  const names = Object.keys(columns);
  const assignments = names.map((name) => `, ${name} = ?`).join('');
  return {
    sql: `update chats set cursor = ${CURSOR}, updated_at = greatest(updated_at, ?)${assignments} where id = ?`,
    params: [occurredAt, ...names.map((name) => columns[name]), chatId],
  };
}

function addParticipants(chatId: string, userIds: string[], at: string): SqlPart {
  return {
    // JSON, not an array binding: knex would spread an array into a list of parameters.
    sql: `insert into chat_participants (chat_id, user_id, joined_at)
          select ?, user_id, ? from jsonb_array_elements_text(?::jsonb) as user_id on conflict do nothing`,
    params: [chatId, at, JSON.stringify(userIds)],
  };
}

function moveReadMark(chatId: string, userId: string, seq: number, messageId: string, readAt: string): SqlPart {
  return {
    sql: `update chat_participants set read_seq = ?, read_message_id = ?, read_at = ?, read_cursor = ${CURSOR}
          where chat_id = ? and user_id = ? and read_seq < ?`,
    params: [seq, messageId, readAt, chatId, userId, seq],
  };
}
