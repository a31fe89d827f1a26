import type { ChannelMessage } from '../realtime/channels';

/** One stored event's channel messages, stamped with its cursor. */
export interface HistoryRecord {
  cursor: string;
  messages: ChannelMessage[];
}

/**
 * The event store read for resuming subscribers (DESIGN.md §4 "Resume without gaps"): only events
 * whose transactions are below every open writer, in cursor order, so that what follows the last
 * record returned can only arrive later.
 */
export abstract class EventHistory {
  abstract inChat(chatId: string, after: string, limit: number): Promise<HistoryRecord[]>;
  /** Events of the chats the user is in now. */
  abstract forUser(userId: string, after: string, limit: number): Promise<HistoryRecord[]>;
  /** The user's current unread counts, as unreadCountUpdated messages (DESIGN.md §4: current values on resume). */
  abstract currentUnreadCounts(userId: string): Promise<ChannelMessage[]>;
}
