import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../application';
import type { ChatEvent } from '../../domain';

/**
 * Keeps the read models that must be read-your-writes (chats, participants, messages, receipts)
 * in the same transaction as the events, so a query after a mutation always sees its effect.
 */
export async function applyToReadModels(em: EntityManager, recorded: RecordedEvent): Promise<void> {
  const { event, cursor, version } = recorded;
  await applyEvent(em, event, cursor, version);
  if (event.type === 'MessageRead') {
    // Reading is not activity: it must not reorder everyone's chat list.
    await em.execute('update chats set cursor = ? where id = ?', [cursor, recorded.chatId]);
  } else if (event.type !== 'ChatCreated') {
    await em.execute('update chats set cursor = ?, updated_at = greatest(updated_at, ?) where id = ?', [
      cursor,
      recorded.occurredAt,
      recorded.chatId,
    ]);
  }
}

async function applyEvent(em: EntityManager, event: ChatEvent, cursor: string, version: number): Promise<void> {
  switch (event.type) {
    case 'ChatCreated': {
      const { chatId, name, createdBy, createdAt, participantIds } = event.data;
      await em.execute(
        'insert into chats (id, name, created_by, created_at, updated_at, cursor) values (?, ?, ?, ?, ?, ?)',
        [chatId, name, createdBy, createdAt, createdAt, cursor],
      );
      await addParticipants(em, chatId, participantIds, createdAt);
      return;
    }
    case 'ChatRenamed':
      await em.execute('update chats set name = ? where id = ?', [event.data.name, event.data.chatId]);
      return;
    case 'ParticipantsAdded':
      await addParticipants(em, event.data.chatId, event.data.userIds, event.data.addedAt);
      return;
    case 'ParticipantsRemoved':
      await em.execute(`delete from chat_participants
         where chat_id = ? and user_id in (select jsonb_array_elements_text(?::jsonb))`,
        [event.data.chatId, JSON.stringify(event.data.userIds)],
      );
      return;
    case 'MessagePosted': {
      const { chatId, messageId, senderId, content, seq, clientMessageId, postedAt } = event.data;
      await em.execute(
        `with m as (
           insert into messages (id, chat_id, seq, sender_id, content, client_message_id, created_at, cursor, version)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?))
         update chats set last_seq = ?, last_message_id = ? where id = ?`,
        [messageId, chatId, seq, senderId, content, clientMessageId, postedAt, cursor, version, seq, messageId, chatId],
      );
      await moveReadMark(em, chatId, senderId, seq, messageId, postedAt, cursor);
      return;
    }
    case 'MessageEdited':
      await em.execute('update messages set content = ?, edited_at = ?, cursor = ? where id = ?', [
        event.data.content,
        event.data.editedAt,
        cursor,
        event.data.messageId,
      ]);
      return;
    case 'MessageDeleted':
      await em.execute('update messages set deleted_at = ?, deleted_version = ?, cursor = ? where id = ?', [
        event.data.deletedAt,
        version,
        cursor,
        event.data.messageId,
      ]);
      // The chat list shows the latest message that still exists.
      await em.execute(
        `update chats set last_message_id = (
           select id from messages where chat_id = ? and deleted_at is null order by seq desc limit 1)
         where id = ? and last_message_id = ?`,
        [event.data.chatId, event.data.chatId, event.data.messageId],
      );
      return;
    case 'MessageRead': {
      const { chatId, messageId, userId, seq, readAt } = event.data;
      await em.execute(
        `insert into message_reads (message_id, user_id, chat_id, seq, read_at, cursor) values (?, ?, ?, ?, ?, ?)
         on conflict (message_id, user_id) do nothing`,
        [messageId, userId, chatId, seq, readAt, cursor],
      );
      await moveReadMark(em, chatId, userId, seq, messageId, readAt, cursor);
      return;
    }
  }
}

async function addParticipants(em: EntityManager, chatId: string, userIds: string[], at: string): Promise<void> {
  await em.execute(
    `insert into chat_participants (chat_id, user_id, joined_at)
     select ?, user_id, ? from jsonb_array_elements_text(?::jsonb) as user_id
     on conflict do nothing`,
    // JSON, not an array binding: knex would spread an array into a list of parameters.
    [chatId, at, JSON.stringify(userIds)],
  );
}

async function moveReadMark(
  em: EntityManager,
  chatId: string,
  userId: string,
  seq: number,
  messageId: string,
  readAt: string,
  cursor: string,
): Promise<void> {
  await em.execute(
    `update chat_participants set read_seq = ?, read_message_id = ?, read_at = ?, read_cursor = ?
     where chat_id = ? and user_id = ? and read_seq < ?`,
    [seq, messageId, readAt, cursor, chatId, userId, seq],
  );
}
