import type { Client } from 'pg';
import { evolveChat, initialChatState, type ChatEvent, type ChatState } from '../../src/domain';
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
