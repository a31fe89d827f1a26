import type { ChannelMessage } from '../realtime/channels';

/** One stored event's channel messages, stamped with its cursor. */
export interface HistoryRecord {
  cursor: string;
  /** The chat's ordering partition. */
  partition: number;
  messages: ChannelMessage[];
}

/** Records in cursor order; `more` when the page was cut by its bound in rows or bytes (read on after the last). */
export interface HistoryPage {
  records: HistoryRecord[];
  more: boolean;
}

/**
 * The event store read for resuming subscribers (DESIGN.md §4 "Resume without gaps"): committed
 * events in cursor order, which is commit order, so that what follows the last record returned can
 * only arrive later.
 */
export abstract class EventHistory {
  /** The newest event's position: where a subscription that starts now begins. */
  abstract head(): Promise<string>;
  abstract inChat(chatId: string, after: string): Promise<HistoryPage>;
  /**
   * Events of the chats the user is in now, and of those they were removed from since `after`. A post's
   * user-scoped messages name the user when they were a participant (and not the sender) at the post.
   */
  abstract forUser(userId: string, after: string): Promise<HistoryPage>;
  /** Whether the user was a participant of the chat once the event at `cursor` had happened. */
  abstract wasParticipantAt(chatId: string, userId: string, cursor: string): Promise<boolean>;
  /** The user's current unread counts, as unreadCountUpdated messages (DESIGN.md §4: current values on resume). */
  abstract currentUnreadCounts(userId: string): Promise<ChannelMessage[]>;
}
