import type { ChannelMessage, ChannelName } from '../../application';

/** How each subscription of DESIGN.md §5 is fed, routed and authorised. */
export interface SubscriptionField {
  channel: ChannelName;
  /** 'chat': everyone subscribed to one chat (participants only); 'user': the viewer's own messages. */
  scope: 'chat' | 'user';
  /** The payload depends on who watches (Chat.unreadCount), so it is executed per viewer. */
  viewerDependent: boolean;
  /**
   * Counts are current values per chat: their cursors rise per chat, not across chats, so "already
   * sent" is judged per chat for them.
   */
  orderedPer: 'subscription' | 'chat';
  /**
   * Typing and presence (DESIGN.md §10): no cursor, no `after`, no history; at most once. A presence
   * subscriber never gets an older transition of a user after a newer one.
   */
  ephemeral?: true;
  accepts?(message: ChannelMessage, args: Record<string, unknown>, viewerId: string): boolean;
}

const chatScoped = (channel: ChannelName, accepts?: SubscriptionField['accepts']): SubscriptionField => ({
  channel,
  scope: 'chat',
  viewerDependent: false,
  orderedPer: 'subscription',
  accepts,
});

const userScoped = (channel: ChannelName, overrides: Partial<SubscriptionField> = {}): SubscriptionField => ({
  channel,
  scope: 'user',
  viewerDependent: false,
  orderedPer: 'subscription',
  ...overrides,
});

export const SUBSCRIPTION_FIELDS: Record<string, SubscriptionField> = {
  messageAdded: chatScoped('messageAdded'),
  messageUpdated: chatScoped('messageUpdated'),
  messageDeleted: chatScoped('messageDeleted'),
  messageReadUpdated: chatScoped(
    'messageReadUpdated',
    (message, args) => args.messageId == null || message.payload.messageId === args.messageId,
  ),
  chatMessageNotification: userScoped('chatMessageNotification'),
  messageUpdateForChatList: userScoped('messageUpdateForChatList'),
  unreadCountUpdated: userScoped('unreadCountUpdated', { orderedPer: 'chat' }),
  chatAdded: userScoped('chatAdded', { viewerDependent: true }),
  chatUpdated: userScoped('chatUpdated', { viewerDependent: true }),
  // Never to the typist: the others in the chat see them typing.
  typingIndicator: { ...chatScoped('typingIndicator', (message, _, viewerId) => message.payload.userId !== viewerId), ephemeral: true },
  presenceChanged: userScoped('presenceChanged', { ephemeral: true }),
};
