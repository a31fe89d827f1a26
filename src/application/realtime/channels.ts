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
/**
 * Ephemeral kinds (DESIGN.md §10): made by receivers from signals, never stored, no cursor. Typing is
 * routed by chat, presence by user (the participants here who share the chat the signal came on).
 */
export const EPHEMERAL_CHANNELS = ['typingIndicator', 'presenceChanged'] as const;

export type ChatChannel = (typeof CHAT_CHANNELS)[number];
export type UserChannel = (typeof USER_CHANNELS)[number];
export type EphemeralChannel = (typeof EPHEMERAL_CHANNELS)[number];
export type ChannelName = ChatChannel | UserChannel | EphemeralChannel;

/** Routed by chat: everyone subscribed to the message's chat (the rest are routed by the users they name). */
export function isChatChannel(channel: ChannelName): channel is ChatChannel | 'typingIndicator' {
  return channel === 'typingIndicator' || (CHAT_CHANNELS as readonly string[]).includes(channel);
}

export interface ChannelMeta {
  eventId: string;
  /** The event that produced the message (for derived messages, the event they derive from). */
  cursor: string;
  chatId: string;
  seq?: number;
  occurredAt: string;
  /**
   * Who a user-routed message is for. Stored for membership and chat events; for a post, the receiver
   * names the participants it serves when it delivers the row (posts carry no recipient list).
   */
  userIds?: string[];
  /** The chat's ordering partition, set by the receiver: user-scoped kinds keep their order per partition. */
  partition?: number;
  /** chatUpdated: participants who were removed by this event and lose access to the chat. */
  removedUserIds?: string[];
  /** presenceChanged: the user's transition count; a subscriber never gets an older one after a newer. */
  version?: number;
}

export interface ChannelMessage {
  channel: ChannelName;
  payload: Record<string, unknown>;
  meta: ChannelMeta;
}

/**
 * One outbox row as the relay publishes it (DESIGN.md §3): on its chat's channel, and on its partition's
 * membership channel when it changes who is in the chat. `position` orders rows ("<txid>.<outbox id>");
 * `previous` is the position of the same chat's row before it ('0.0' for a chat's first), so a receiver
 * that delivered something else for the chat last knows it missed rows and reads them from the store.
 */
export interface RelayedRecord {
  position: string;
  previous: string;
  chatId: string;
  partition: number;
  /** The row creates the chat or changes its participants. */
  membership: boolean;
  messages: ChannelMessage[];
  /**
   * The row as stored, when it was read from the outbox: its packed channel messages as JSON text and
   * the cursor they are stamped with. A transport writes its wire form from this text without
   * building `messages` (the relay's largest cost per event was that parse and the serialising back).
   */
  readonly stored?: { json: string; cursor: string | null };
}

/** The position before every row: a chat's first row names it as its previous. */
export const NO_ROW = '0.0';
