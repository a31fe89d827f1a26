import type { ChatEventType } from '../../domain';
import type { ChannelName } from './channels';

/**
 * The events whose channel messages (channel-messages.ts) include each channel: what a subscription of
 * that channel could have been sent, so that a resume is told CURSOR_EXPIRED only for pruned rows it
 * would have received (DESIGN.md §4). `unreadCountUpdated` has none: a resume sends current counts, read
 * from the read models, never history.
 */
export const EVENT_TYPES_BY_CHANNEL: Record<ChannelName, readonly ChatEventType[]> = {
  messageAdded: ['MessagePosted'],
  chatMessageNotification: ['MessagePosted'],
  messageUpdateForChatList: ['MessagePosted'],
  messageUpdated: ['MessageEdited'],
  messageDeleted: ['MessageDeleted'],
  messageReadUpdated: ['MessageRead'],
  chatAdded: ['ChatCreated', 'ParticipantsAdded'],
  chatUpdated: ['ParticipantsAdded', 'ParticipantsRemoved', 'ChatRenamed'],
  unreadCountUpdated: [],
  // Ephemeral: no history to resume, so nothing of theirs is ever pruned.
  typingIndicator: [],
  presenceChanged: [],
};

/** Channels that go to a post's participants other than its sender. */
export const NOT_TO_SENDER: readonly ChannelName[] = ['chatMessageNotification', 'messageUpdateForChatList'];
