import type { ChatEvent, ChatState, MessagePosted } from '../../domain';
import type { ChannelMessage, ChannelMeta } from './channels';

/** What an event's channel messages need besides the event: who is in the chat once it has happened. */
export interface ChannelContext {
  eventId: string;
  occurredAt: string;
  /** The chat after the event (and after the whole command, for chat-level events). */
  chat: ChatState;
  /** Chat-level events: the chat's latest message as a Message payload, for Chat.lastMessage. */
  lastMessage?: Record<string, unknown> | null;
}

/**
 * The channel messages an event publishes (DESIGN.md §3), without cursors: a cursor is the stored
 * event's position, added when the outbox row is read (see `withCursor`). Pure, so that relaying,
 * replaying and resuming all send the same thing.
 */
export function channelMessagesFor(event: ChatEvent, context: ChannelContext): ChannelMessage[] {
  const meta = (extra: Partial<ChannelMeta> = {}): ChannelMeta => ({
    eventId: context.eventId,
    cursor: '',
    chatId: context.chat.chatId,
    occurredAt: context.occurredAt,
    ...extra,
  });
  const participants = context.chat.participantIds;
  switch (event.type) {
    case 'MessagePosted': {
      const message = postedMessage(event);
      const { senderId, chatId, seq } = event.data;
      // No recipient list (DESIGN.md §3): each receiver names the participants it serves itself, so a
      // post's row and bytes do not grow with its chat. The message object is shared by reference: the
      // outbox stores it once.
      const listItem = { chatId, message, senderId };
      return [
        { channel: 'messageAdded', payload: message, meta: meta({ seq }) },
        { channel: 'chatMessageNotification', payload: listItem, meta: meta({ seq }) },
        { channel: 'messageUpdateForChatList', payload: listItem, meta: meta({ seq }) },
      ];
    }
    case 'MessageEdited': {
      const { messageId, chatId, senderId, content, seq, postedAt, editedAt } = event.data;
      const message = { id: messageId, chatId, senderId, content, seq, createdAt: postedAt, isEdited: true, editedAt };
      return [{ channel: 'messageUpdated', payload: message, meta: meta({ seq }) }];
    }
    case 'MessageDeleted': {
      const { messageId, chatId, seq } = event.data;
      return [{ channel: 'messageDeleted', payload: { id: messageId, chatId }, meta: meta({ seq }) }];
    }
    case 'MessageRead': {
      const { messageId, chatId, userId, readAt, seq } = event.data;
      return [{ channel: 'messageReadUpdated', payload: { messageId, chatId, userId, readAt }, meta: meta({ seq }) }];
    }
    case 'ChatCreated':
      return [{ channel: 'chatAdded', payload: chatPayload(context), meta: meta({ userIds: [...participants] }) }];
    case 'ParticipantsAdded': {
      const added = new Set(event.data.userIds);
      const existing = participants.filter((id) => !added.has(id));
      // One payload object for both channels: the outbox stores it once (see outbox-packing.ts).
      const chat = chatPayload(context);
      return [
        { channel: 'chatAdded', payload: chat, meta: meta({ userIds: [...added] }) },
        { channel: 'chatUpdated', payload: chat, meta: meta({ userIds: existing }) },
      ];
    }
    case 'ParticipantsRemoved': {
      const removed = event.data.userIds;
      return [
        {
          channel: 'chatUpdated',
          payload: chatPayload(context),
          meta: meta({ userIds: [...participants, ...removed], removedUserIds: [...removed] }),
        },
      ];
    }
    case 'ChatRenamed':
      return [{ channel: 'chatUpdated', payload: chatPayload(context), meta: meta({ userIds: [...participants] }) }];
  }
}

function postedMessage(event: MessagePosted): Record<string, unknown> {
  const { messageId, chatId, senderId, content, seq, postedAt } = event.data;
  return { id: messageId, chatId, senderId, content, seq, createdAt: postedAt, isEdited: false, editedAt: null };
}

/** Chat.unreadCount depends on the viewer, so it is resolved per subscriber, never stored here. */
function chatPayload({ chat, lastMessage, occurredAt }: ChannelContext): Record<string, unknown> {
  return {
    id: chat.chatId,
    name: chat.name,
    participantIds: [...chat.participantIds],
    createdBy: chat.createdBy,
    createdAt: chat.createdAt,
    // As the chats read model counts it: the time of the chat's latest event, this one.
    updatedAt: occurredAt,
    lastMessage: lastMessage ?? null,
  };
}

/** Stamps a stored channel message with the cursor of the event it came from. */
export function withCursor(message: ChannelMessage, cursor: string): ChannelMessage {
  const payload: Record<string, unknown> = { ...message.payload, cursor };
  const nested = payload.message as Record<string, unknown> | undefined;
  if (nested && typeof nested === 'object') payload.message = { ...nested, cursor };
  return { ...message, payload, meta: { ...message.meta, cursor } };
}

/** The unreadCountUpdated message for one count; its cursor is the event that last changed the count. */
export function unreadCountMessage(
  chatId: string,
  userId: string,
  unreadCount: number,
  cursor: string,
  occurredAt: string,
): ChannelMessage {
  return {
    channel: 'unreadCountUpdated',
    payload: { chatId, userId, unreadCount, cursor },
    meta: { eventId: `unread:${chatId}:${userId}:${cursor}`, cursor, chatId, occurredAt, userIds: [userId] },
  };
}
