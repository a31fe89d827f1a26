/**
 * The channels of DESIGN.md §3: one per subscription, with payloads shaped as the GraphQL types.
 * A channel is routed either by chat (everyone subscribed to that chat) or by user (the users named
 * in `meta.userIds`, fixed when the event was written).
 */
export const CHAT_CHANNELS = ['messageAdded', 'messageUpdated', 'messageDeleted', 'messageReadUpdated'] as const;
export const USER_CHANNELS = [
  'chatMessageNotification',
  'messageUpdateForChatList',
  'unreadCountUpdated',
  'chatAdded',
  'chatUpdated',
] as const;
export const CHANNELS = [...CHAT_CHANNELS, ...USER_CHANNELS] as const;

export type ChatChannel = (typeof CHAT_CHANNELS)[number];
export type UserChannel = (typeof USER_CHANNELS)[number];
export type ChannelName = ChatChannel | UserChannel;

export function isChatChannel(channel: ChannelName): channel is ChatChannel {
  return (CHAT_CHANNELS as readonly string[]).includes(channel);
}

export interface ChannelMeta {
  eventId: string;
  /** The event that produced the message (for derived messages, the event they derive from). */
  cursor: string;
  chatId: string;
  seq?: number;
  occurredAt: string;
  /** Who a user-routed message is for. */
  userIds?: string[];
  /** chatUpdated: participants who were removed by this event and lose access to the chat. */
  removedUserIds?: string[];
}

export interface ChannelMessage {
  channel: ChannelName;
  payload: Record<string, unknown>;
  meta: ChannelMeta;
}

/**
 * One outbox row as the relay publishes it. `position` orders rows for receivers ("<txid>.<outbox id>");
 * `previous` is the position the relay published just before it, so a receiver that saw something
 * else in between knows it missed rows and reads them from the store.
 */
export interface RelayedRecord {
  position: string;
  previous?: string;
  messages: ChannelMessage[];
  /**
   * The row as stored, when it was read from the outbox: its packed channel messages as JSON text and
   * the cursor they are stamped with. A transport may write its wire form from this text without
   * building `messages` (the relay's largest cost per event was that parse and the serialising back).
   */
  readonly stored?: { json: string; cursor: string | null };
}
