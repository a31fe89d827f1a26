import type { Client } from 'pg';
import { evolveChat, evolveMessage, initialChatState, isMessageEvent, type ChatEvent, type ChatState, type MessageState } from '../../src/domain';
import { UNREAD_COUNT } from '../../src/infrastructure/persistence/unread-count';

/**
 * Unread counts computed from the event store alone, with the domain's own fold, to compare the
 * counts the service answers against: messages above the user's read mark, sent by others, not deleted.
 */
export async function unreadCountsFromEvents(client: Client): Promise<Map<string, number>> {
  const { rows } = await client.query<{ stream_id: string; type: ChatEvent['type']; data: unknown }>(
    'select stream_id, type, data from events order by stream_id, version',
  );
  const chats = new Map<string, { state: ChatState; messages: Map<number, { senderId: string; deleted: boolean }> }>();
  for (const row of rows) {
    const event = { type: row.type, data: row.data } as ChatEvent;
    const chat = chats.get(row.stream_id) ?? { state: initialChatState(row.stream_id), messages: new Map() };
    chat.state = evolveChat(chat.state, event);
    if (event.type === 'MessagePosted') chat.messages.set(event.data.seq, { senderId: event.data.senderId, deleted: false });
    if (event.type === 'MessageDeleted') chat.messages.get(event.data.seq)!.deleted = true;
    chats.set(row.stream_id, chat);
  }
  const counts = new Map<string, number>();
  for (const [chatId, { state, messages }] of chats) {
    for (const userId of state.participantIds) {
      const mark = state.readMarks[userId]?.seq ?? 0;
      let unread = 0;
      for (const [seq, message] of messages) if (seq > mark && message.senderId !== userId && !message.deleted) unread++;
      counts.set(`${chatId}/${userId}`, unread);
    }
  }
  return counts;
}

/** Every participant's count as the service computes it (the expression `unreadCounts` and the frames use). */
export async function unreadCountsFromReadModel(client: Client): Promise<Map<string, number>> {
  const { rows } = await client.query<{ chat_id: string; user_id: string; unread_count: number }>(
    `select me.chat_id, me.user_id, ${UNREAD_COUNT} as unread_count from chat_participants me join chats c on c.id = me.chat_id`,
  );
  return new Map(rows.map((row) => [`${row.chat_id}/${row.user_id}`, row.unread_count]));
}

/** The read models' rows that a fold of the events decides, in a form both sides can be put in. */
export interface ReadModelRows {
  chats: { id: string; name: string; lastSeq: number; lastMessageId: string | null; version: number }[];
  members: { chatId: string; userId: string; readSeq: number }[];
  messages: { id: string; chatId: string; seq: number; senderId: string; content: string; edited: boolean; deleted: boolean }[];
  /** Receipts, `<messageId>/<userId>`: every read a MessageRead recorded, kept when its reader leaves. */
  reads: string[];
}

/**
 * The chats, members with their read marks, messages and receipts as the domain's own fold of the
 * event store has them, to compare the read-model tables against (`readModelRowsAsStored`). A chat's
 * last message is its newest message not deleted.
 */
export async function readModelRowsFromEvents(client: Client): Promise<ReadModelRows> {
  const { rows } = await client.query<{ stream_id: string; version: number; type: ChatEvent['type']; data: unknown }>(
    'select stream_id, version, type, data from events order by stream_id, version',
  );
  const chats = new Map<string, { state: ChatState; version: number }>();
  const messages = new Map<string, MessageState & { edited: boolean }>();
  const reads = new Set<string>();
  for (const row of rows) {
    const event = { type: row.type, data: row.data } as ChatEvent;
    const chat = chats.get(row.stream_id) ?? { state: initialChatState(row.stream_id), version: 0 };
    chats.set(row.stream_id, { state: evolveChat(chat.state, event), version: row.version });
    if (isMessageEvent(event)) {
      const before = messages.get(event.data.messageId) ?? null;
      const after = evolveMessage(before, event);
      if (after) messages.set(after.messageId, { ...after, edited: (before?.edited ?? false) || event.type === 'MessageEdited' });
    }
    if (event.type === 'MessageRead') reads.add(`${event.data.messageId}/${event.data.userId}`);
  }
  const newest = new Map<string, MessageState>();
  for (const message of messages.values()) {
    const current = newest.get(message.chatId);
    if (!message.deleted && (!current || current.seq < message.seq)) newest.set(message.chatId, message);
  }
  return {
    chats: [...chats.values()]
      .map(({ state, version }) => ({ id: state.chatId, name: state.name, lastSeq: state.lastSeq, lastMessageId: newest.get(state.chatId)?.messageId ?? null, version }))
      .sort(byKey((c) => c.id)),
    members: [...chats.values()]
      .flatMap(({ state }) => state.participantIds.map((userId) => ({ chatId: state.chatId, userId, readSeq: state.readMarks[userId]?.seq ?? 0 })))
      .sort(byKey((m) => `${m.chatId}/${m.userId}`)),
    messages: [...messages.values()]
      .map((m) => ({ id: m.messageId, chatId: m.chatId, seq: m.seq, senderId: m.senderId, content: m.content, edited: m.edited, deleted: m.deleted }))
      .sort(byKey((m) => m.id)),
    reads: [...reads].sort(),
  };
}

/** The same rows, as the read-model tables hold them. */
export async function readModelRowsAsStored(client: Client): Promise<ReadModelRows> {
  const chats = await client.query(
    `select id, name, last_seq as "lastSeq", last_message_id as "lastMessageId", version from chats`,
  );
  const members = await client.query(`select chat_id as "chatId", user_id as "userId", read_seq as "readSeq" from chat_participants`);
  const messages = await client.query(
    `select id, chat_id as "chatId", seq, sender_id as "senderId", content, edited_at is not null as edited, deleted_at is not null as deleted from messages`,
  );
  const reads = await client.query<{ key: string }>(`select message_id || '/' || user_id as key from message_reads`);
  return {
    chats: chats.rows.sort(byKey((c) => c.id)),
    members: members.rows.sort(byKey((m) => `${m.chatId}/${m.userId}`)),
    messages: messages.rows.sort(byKey((m) => m.id)),
    reads: reads.rows.map((row) => row.key).sort(),
  };
}

function byKey<T>(key: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}
