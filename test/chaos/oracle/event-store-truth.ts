import type { Client } from 'pg';
import { compareCursors, encodeCursor } from '../../../src/application/realtime/cursor';
import { unpackChannelMessages } from '../../../src/application/realtime/outbox-packing';
import { evolveChat, initialChatState, type ChatEvent, type ChatState } from '../../../src/domain';
import { unreadCountsFromEvents } from '../../support/ground-truth';

/** One posted message as the event store tells it. */
export interface MessageTruth {
  id: string;
  chatId: string;
  seq: number;
  senderId: string;
  /** As posted: what messageAdded carries. */
  postedContent: string;
  /** After every edit: what queries show. */
  content: string;
  edited: boolean;
  deleted: boolean;
  cursor: string;
  clientMessageId: string | null;
  /** The chat's participants when it was posted: who is entitled to it on messageAdded. */
  members: ReadonlySet<string>;
}

export interface ChatTruth {
  id: string;
  state: ChatState;
  messages: MessageTruth[];
  bySeq: Map<number, MessageTruth>;
  /** First receipt per (message, user): later marks of the same message record nothing new. */
  reads: Map<string, Map<string, string>>;
  /** Per user, the cursors of the events that made them a participant (ChatCreated, ParticipantsAdded). */
  joins: Map<string, string[]>;
}

/** A user-routed channel message as the outbox recorded it, with its event's cursor. */
export interface RoutedTruth {
  cursor: string;
  chatId: string;
  payload: Record<string, any>;
}

export interface Truth {
  chats: Map<string, ChatTruth>;
  /** Each chat's ordering partition (`chats.partition`, DESIGN.md §3): where its events' positions compare. */
  partitions: Map<string, number>;
  /** How many partitions the deployment has (`relay_settings`). */
  partitionCount: number;
  /** `${channel}\u0000${userId}` → the messages addressed to that user, in cursor order. */
  routed: Map<string, RoutedTruth[]>;
  unreadCounts: Map<string, number>;
  /** clientMessageId → [rows in messages, MessagePosted events]. */
  clientMessageIds: Map<string, { rows: number; events: number }>;
  /** Events whose data carries the marker of a bad input: every one is a bad input that changed something. */
  badInputEvents: { type: string; data: unknown }[];
  eventCount: number;
}

export const BAD_INPUT_MARKER = 'bad-input';

/**
 * Folds the event store with the domain's own `evolveChat`, and reads the outbox's recipients. A post's
 * row names no recipients (DESIGN.md §3: receivers resolve them), so `chatMessageNotification`'s are
 * the chat's participants when the message was posted, but its sender (DESIGN.md §5), from the fold.
 */
export async function loadTruth(db: Client, routedChannels: readonly string[]): Promise<Truth> {
  const { rows: events } = await db.query<{ tx_id: string; position: string; stream_id: string; type: ChatEvent['type']; data: any }>(
    'select tx_id::text as tx_id, position::text as position, stream_id, type, data from events order by stream_id, version',
  );
  const chats = new Map<string, ChatTruth>();
  for (const row of events) {
    const event = { type: row.type, data: row.data } as ChatEvent;
    const cursor = encodeCursor(row.tx_id, row.position);
    let chat = chats.get(row.stream_id);
    if (!chat) {
      chat = { id: row.stream_id, state: initialChatState(row.stream_id), messages: [], bySeq: new Map(), reads: new Map(), joins: new Map() };
      chats.set(row.stream_id, chat);
    }
    applyTruth(chat, event, cursor);
    chat.state = evolveChat(chat.state, event);
  }

  const { rows: outbox } = await db.query<{ tx_id: string; event_position: string; chat_id: string; payload: any[] }>(
    'select tx_id::text as tx_id, event_position::text as event_position, chat_id, payload from outbox where event_position is not null',
  );
  const routed = new Map<string, RoutedTruth[]>();
  for (const row of outbox) {
    const cursor = encodeCursor(row.tx_id, row.event_position);
    // Rows store a value shared by channels once (outbox-packing.ts): read them as every reader does.
    for (const message of unpackChannelMessages(row.payload)) {
      // Taken from the fold below, whatever the row may name.
      if (!routedChannels.includes(message.channel) || message.channel === 'chatMessageNotification') continue;
      for (const userId of message.meta.userIds ?? []) {
        const key = routeKey(message.channel, userId);
        const list = routed.get(key) ?? [];
        list.push({ cursor, chatId: row.chat_id, payload: message.payload });
        routed.set(key, list);
      }
    }
  }
  if (routedChannels.includes('chatMessageNotification')) {
    for (const chat of chats.values()) {
      for (const message of chat.messages) {
        for (const userId of message.members) {
          if (userId === message.senderId) continue;
          const key = routeKey('chatMessageNotification', userId);
          const list = routed.get(key) ?? [];
          list.push({ cursor: message.cursor, chatId: chat.id, payload: { chatId: chat.id, senderId: message.senderId, message: { id: message.id } } });
          routed.set(key, list);
        }
      }
    }
  }
  for (const list of routed.values()) list.sort((a, b) => compareCursors(a.cursor, b.cursor));

  const { rows: byClientId } = await db.query<{ id: string; rows: number; events: number }>(
    `select id, sum(r)::int as rows, sum(e)::int as events from (
       select client_message_id as id, 1 as r, 0 as e from messages where client_message_id is not null
       union all
       select data->>'clientMessageId', 0, 1 from events where type = 'MessagePosted' and data->>'clientMessageId' is not null
     ) x group by id`,
  );
  const { rows: bad } = await db.query<{ type: string; data: unknown }>(
    `select type, data from events where data::text like '%' || $1 || '%'`,
    [BAD_INPUT_MARKER],
  );
  const { rows: placed } = await db.query<{ id: string; partition: number }>('select id::text as id, partition from chats');
  const { rows: settings } = await db.query<{ partitions: number }>('select partitions from relay_settings');
  return {
    chats,
    partitions: new Map(placed.map((row) => [row.id, row.partition])),
    partitionCount: settings[0]?.partitions ?? 1,
    routed,
    unreadCounts: await unreadCountsFromEvents(db),
    clientMessageIds: new Map(byClientId.map((row) => [row.id, { rows: row.rows, events: row.events }])),
    badInputEvents: bad,
    eventCount: events.length,
  };
}

export function routeKey(channel: string, userId: string): string {
  return `${channel}\u0000${userId}`;
}

/** What an event tells beyond the chat state: messages, their entitled audience, receipts, joins. */
function applyTruth(chat: ChatTruth, event: ChatEvent, cursor: string): void {
  const join = (userIds: string[]) => {
    for (const userId of userIds) chat.joins.set(userId, [...(chat.joins.get(userId) ?? []), cursor]);
  };
  switch (event.type) {
    case 'ChatCreated':
      join(event.data.participantIds);
      return;
    case 'ParticipantsAdded':
      join(event.data.userIds);
      return;
    case 'MessagePosted': {
      const { messageId, chatId, seq, senderId, content, clientMessageId } = event.data;
      const message: MessageTruth = {
        id: messageId,
        chatId,
        seq,
        senderId,
        postedContent: content,
        content,
        edited: false,
        deleted: false,
        cursor,
        clientMessageId,
        members: new Set(chat.state.participantIds),
      };
      chat.messages.push(message);
      chat.bySeq.set(seq, message);
      return;
    }
    case 'MessageEdited': {
      const message = chat.bySeq.get(event.data.seq)!;
      message.content = event.data.content;
      message.edited = true;
      return;
    }
    case 'MessageDeleted':
      chat.bySeq.get(event.data.seq)!.deleted = true;
      return;
    case 'MessageRead': {
      const { messageId, userId, readAt } = event.data;
      const readers = chat.reads.get(messageId) ?? new Map<string, string>();
      if (!readers.has(userId)) readers.set(userId, readAt);
      chat.reads.set(messageId, readers);
      return;
    }
    case 'ChatRenamed':
    case 'ParticipantsRemoved':
      return;
  }
}

/** A user's chat list as the event store says it must look (DESIGN.md §5 `chats`). */
export function chatListOf(truth: Truth, userId: string) {
  const list = [];
  for (const chat of truth.chats.values()) {
    if (!chat.state.participantIds.includes(userId)) continue;
    const last = [...chat.messages].reverse().find((message) => !message.deleted) ?? null;
    list.push({
      id: chat.id,
      name: chat.state.name,
      participantIds: [...chat.state.participantIds].sort(),
      lastMessage: last && { id: last.id, seq: last.seq, content: last.content, isEdited: last.edited },
      unreadCount: truth.unreadCounts.get(`${chat.id}/${userId}`) ?? 0,
    });
  }
  return list.sort((a, b) => a.id.localeCompare(b.id));
}
