import type { ChatEvent, MessageEdited, MessagePosted, MessageRead } from '../../../domain';

/**
 * The read models that must be read-your-writes (chats, participants with their read marks,
 * messages, receipts), written in the statement that appends the events they follow: a query after
 * a mutation always sees its effect, and a post costs no extra round trip.
 *
 * They are also what the next command of a chat is decided on (stream-load.ts), and they are what
 * unread counts are computed from (DESIGN.md §4): `chats.last_seq`, the member's `read_seq` and
 * `last_own_seq`, and the deleted messages above the mark (see postgres-chat-read-model.adapter.ts).
 * None of this writes a row per participant, so a post costs the same in a chat of 2 or of 1000.
 *
 * Two forms of the same changes:
 * - `eventParts`: one event, as data-modifying CTE bodies of that event's own statement; every event
 *   type. Parts of one statement see the database as it was before the statement and may modify a
 *   row only once, so each event touches `chats` in exactly one part. `CURSOR` is the SQL for the new
 *   event's cursor; `?` are parameters, numbered when the statement is assembled.
 * - `BatchedReadModels`: many posts, reads and edits of a batch in one statement, with the changes
 *   to each row folded together first (one `chats` row per chat, one mark per member).
 */
export interface SqlPart {
  sql: string;
  params: unknown[];
}

export const CURSOR = '(select cursor from new_cursor)';

/**
 * A new chat's partition. A chat rebuilt from its events (read-model-rebuild.ts) keeps the one its
 * outbox rows were published under, even if the number of partitions has grown since.
 */
const RECORDED_PARTITION = '(select coalesce((select o.partition from outbox o where o.chat_id = ?::uuid limit 1), parley_partition_of(?::uuid)))';

export function eventParts(event: ChatEvent, version: number, occurredAt: string): SqlPart[] {
  switch (event.type) {
    case 'ChatCreated': {
      const { chatId, name, createdBy, createdAt, participantIds } = event.data;
      return [
        {
          sql: `insert into chats (id, name, created_by, created_at, updated_at, cursor, version, partition)
                values (?, ?, ?, ?, ?, ${CURSOR}, ?, ${RECORDED_PARTITION})`,
          params: [chatId, name, createdBy, createdAt, createdAt, version, chatId, chatId],
        },
        {
          // JSON, not an array binding, so that the parameter is one value whatever the count.
          sql: `insert into chat_participants (chat_id, user_id, joined_at)
                select ?, user_id, ? from jsonb_array_elements_text(?::jsonb) as user_id on conflict do nothing`,
          params: [chatId, createdAt, JSON.stringify(participantIds)],
        },
      ];
    }
    case 'ChatRenamed':
      return [touchChat(event.data.chatId, version, occurredAt, { name: event.data.name })];
    case 'ParticipantsAdded':
      return [addParticipants(event.data.chatId, event.data.userIds, event.data.addedAt), touchChat(event.data.chatId, version, occurredAt)];
    case 'ParticipantsRemoved':
      return [
        {
          sql: `delete from chat_participants where chat_id = ? and user_id in (select jsonb_array_elements_text(?::jsonb))`,
          params: [event.data.chatId, JSON.stringify(event.data.userIds)],
        },
        touchChat(event.data.chatId, version, occurredAt),
      ];
    case 'MessagePosted': {
      const { chatId, messageId, senderId, content, seq, clientMessageId, postedAt } = event.data;
      return [
        {
          sql: `insert into messages (id, chat_id, seq, sender_id, content, client_message_id, created_at, cursor, version)
                values (?, ?, ?, ?, ?, ?, ?, ${CURSOR}, ?)`,
          params: [messageId, chatId, seq, senderId, content, clientMessageId, postedAt, version],
        },
        touchChat(chatId, version, occurredAt, { last_seq: seq, last_message_id: messageId }),
        moveReadMark(chatId, senderId, seq, messageId, postedAt, seq),
      ];
    }
    case 'MessageEdited':
      return [
        {
          sql: `update messages set content = ?, edited_at = ?, cursor = ${CURSOR} where id = ?`,
          params: [event.data.content, event.data.editedAt, event.data.messageId],
        },
        touchChat(event.data.chatId, version, occurredAt),
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
          sql: `update chats set cursor = ${CURSOR}, version = ?, updated_at = greatest(updated_at, ?),
                  last_message_id = case when last_message_id = ? then (
                    select id from messages where chat_id = ? and deleted_at is null and id <> ? order by seq desc limit 1)
                  else last_message_id end
                where id = ?`,
          params: [version, occurredAt, messageId, chatId, messageId, chatId],
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
        moveReadMark(chatId, userId, seq, messageId, readAt, null),
        // Reading is not activity: it must not reorder everyone's chat list.
        { sql: `update chats set cursor = ${CURSOR}, version = ? where id = ?`, params: [version, chatId] },
      ];
    }
  }
}

/** Every event moves the chat's cursor, its version and its activity time, plus whatever columns it changes. */
function touchChat(chatId: string, version: number, occurredAt: string, columns: Record<string, unknown> = {}): SqlPart {
  const names = Object.keys(columns);
  const assignments = names.map((name) => `, ${name} = ?`).join('');
  return {
    sql: `update chats set cursor = ${CURSOR}, version = ?, updated_at = greatest(updated_at, ?)${assignments} where id = ?`,
    params: [version, occurredAt, ...names.map((name) => columns[name]), chatId],
  };
}

/**
 * A participant added again starts afresh (mark 0, as the domain folds it), but their own earlier
 * messages are still theirs and never unread: `last_own_seq` remembers how far they go.
 */
function addParticipants(chatId: string, userIds: string[], at: string): SqlPart {
  return {
    sql: `insert into chat_participants (chat_id, user_id, joined_at, last_own_seq)
          select ?, added.user_id, ?, coalesce(own.last_seq, 0)
          from jsonb_array_elements_text(?::jsonb) as added(user_id)
          left join (select m.sender_id, max(m.seq) as last_seq from messages m
                     where m.chat_id = ? and m.sender_id in (select jsonb_array_elements_text(?::jsonb))
                     group by m.sender_id) as own on own.sender_id = added.user_id
          on conflict do nothing`,
    params: [chatId, at, JSON.stringify(userIds), chatId, JSON.stringify(userIds)],
  };
}

/** Read marks only move forward; a post moves its sender's mark (and `last_own_seq`) to the new message. */
function moveReadMark(chatId: string, userId: string, seq: number, messageId: string, readAt: string, ownSeq: number | null): SqlPart {
  return {
    sql: `update chat_participants set read_seq = ?, read_message_id = ?, read_at = ?, read_cursor = ${CURSOR},
            last_own_seq = greatest(last_own_seq, ?::int)
          where chat_id = ? and user_id = ? and read_seq < ?`,
    params: [seq, messageId, readAt, ownSeq, chatId, userId, seq],
  };
}

type BatchedEvent = MessagePosted | MessageRead | MessageEdited;

interface ChatChange {
  id: string;
  version: number;
  event_id: string;
  active_at: string | null;
  last_seq: number | null;
  last_message_id: string | null;
}

interface MarkChange {
  chat_id: string;
  user_id: string;
  seq: number;
  message_id: string;
  read_at: string;
  event_id: string;
  own_seq: number | null;
}

/**
 * The read-model changes of many posts, reads and edits, as CTE parts of the batch's append
 * statement over `new_events (event_id, cursor)`. Each row set is one JSON parameter.
 */
export class BatchedReadModels {
  private readonly messages: Record<string, unknown>[] = [];
  private readonly edits = new Map<string, Record<string, unknown>>();
  private readonly reads: Record<string, unknown>[] = [];
  private readonly marks = new Map<string, MarkChange>();
  private readonly chats = new Map<string, ChatChange>();

  /** Events this form takes; a chat with any other event in the batch is written event by event. */
  static takes(event: ChatEvent): event is BatchedEvent {
    return event.type === 'MessagePosted' || event.type === 'MessageRead' || event.type === 'MessageEdited';
  }

  /** False when the event would change a row that an earlier event of the batch changes in a way that does not fold. */
  static folds(events: ChatEvent[]): boolean {
    const edited = new Set<string>();
    for (const event of events) {
      if (!BatchedReadModels.takes(event)) return false;
      if (event.type !== 'MessageEdited') continue;
      if (edited.has(event.data.messageId)) return false;
      edited.add(event.data.messageId);
    }
    return true;
  }

  /** In stream order: later events of a chat override earlier ones where they fold. */
  add(event: BatchedEvent, eventId: string, version: number, occurredAt: string): void {
    const chat = this.chatChange(event.data.chatId, version, eventId);
    switch (event.type) {
      case 'MessagePosted': {
        const { chatId, messageId, senderId, content, seq, clientMessageId, postedAt } = event.data;
        this.messages.push({ id: messageId, chat_id: chatId, seq, sender_id: senderId, content, client_message_id: clientMessageId, created_at: postedAt, event_id: eventId, version });
        chat.active_at = later(chat.active_at, occurredAt);
        chat.last_seq = seq;
        chat.last_message_id = messageId;
        this.moveMark(chatId, senderId, seq, messageId, postedAt, eventId, seq);
        return;
      }
      case 'MessageRead': {
        const { chatId, messageId, userId, seq, readAt } = event.data;
        this.reads.push({ message_id: messageId, user_id: userId, chat_id: chatId, seq, read_at: readAt, event_id: eventId });
        this.moveMark(chatId, userId, seq, messageId, readAt, eventId, null);
        return;
      }
      case 'MessageEdited':
        this.edits.set(event.data.messageId, { id: event.data.messageId, content: event.data.content, edited_at: event.data.editedAt, event_id: eventId });
        chat.active_at = later(chat.active_at, occurredAt);
        return;
    }
  }

  /** The parts, with parameters numbered from `first`. */
  parts(first: number): { sql: string; params: string[] } {
    const p = (offset: number) => `$${first + offset}::json`;
    const sql = `
      new_messages as (
        insert into messages (id, chat_id, seq, sender_id, content, client_message_id, created_at, cursor, version)
        select m.id, m.chat_id, m.seq, m.sender_id, m.content, m.client_message_id, m.created_at, e.cursor, m.version
        from json_to_recordset(${p(0)}) as m(id uuid, chat_id uuid, seq int, sender_id text, content text,
               client_message_id text, created_at timestamptz, event_id uuid, version int)
        join new_events e on e.event_id = m.event_id),
      edited_messages as (
        update messages t set content = u.content, edited_at = u.edited_at, cursor = e.cursor
        from json_to_recordset(${p(1)}) as u(id uuid, content text, edited_at timestamptz, event_id uuid)
        join new_events e on e.event_id = u.event_id
        where t.id = u.id),
      new_reads as (
        insert into message_reads (message_id, user_id, chat_id, seq, read_at, cursor)
        select r.message_id, r.user_id, r.chat_id, r.seq, r.read_at, e.cursor
        from json_to_recordset(${p(2)}) as r(message_id uuid, user_id text, chat_id uuid, seq int, read_at timestamptz, event_id uuid)
        join new_events e on e.event_id = r.event_id
        on conflict (message_id, user_id) do nothing),
      moved_marks as (
        update chat_participants t set read_seq = u.seq, read_message_id = u.message_id, read_at = u.read_at,
          read_cursor = e.cursor, last_own_seq = greatest(t.last_own_seq, u.own_seq)
        from json_to_recordset(${p(3)}) as u(chat_id uuid, user_id text, seq int, message_id uuid, read_at timestamptz,
               event_id uuid, own_seq int)
        join new_events e on e.event_id = u.event_id
        where t.chat_id = u.chat_id and t.user_id = u.user_id and t.read_seq < u.seq),
      touched_chats as (
        update chats t set version = u.version, cursor = e.cursor, updated_at = greatest(t.updated_at, u.active_at),
          last_seq = coalesce(u.last_seq, t.last_seq), last_message_id = coalesce(u.last_message_id, t.last_message_id)
        from json_to_recordset(${p(4)}) as u(id uuid, version int, event_id uuid, active_at timestamptz, last_seq int,
               last_message_id uuid)
        join new_events e on e.event_id = u.event_id
        where t.id = u.id)`;
    return {
      sql,
      params: [
        JSON.stringify(this.messages),
        JSON.stringify([...this.edits.values()]),
        JSON.stringify(this.reads),
        JSON.stringify([...this.marks.values()]),
        JSON.stringify([...this.chats.values()]),
      ],
    };
  }

  private chatChange(chatId: string, version: number, eventId: string): ChatChange {
    let chat = this.chats.get(chatId);
    if (!chat) this.chats.set(chatId, (chat = { id: chatId, version, event_id: eventId, active_at: null, last_seq: null, last_message_id: null }));
    chat.version = version;
    chat.event_id = eventId;
    return chat;
  }

  private moveMark(chatId: string, userId: string, seq: number, messageId: string, readAt: string, eventId: string, ownSeq: number | null): void {
    const key = `${chatId}\u0000${userId}`;
    const mark = this.marks.get(key);
    const own = ownSeq ?? mark?.own_seq ?? null;
    if (mark && mark.seq >= seq) {
      mark.own_seq = own;
      return;
    }
    this.marks.set(key, { chat_id: chatId, user_id: userId, seq, message_id: messageId, read_at: readAt, event_id: eventId, own_seq: own });
  }
}

function later(a: string | null, b: string): string {
  return a === null || Date.parse(b) > Date.parse(a) ? b : a;
}
