import type { ChannelMessage, ChannelName } from '../realtime/channels';
import type { PartitionVector } from '../realtime/partition-vector';

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

/** A resume, as far as outbox retention is concerned (DESIGN.md §4). */
export interface ResumeScope {
  viewerId: string;
  channel: ChannelName;
  after: PartitionVector;
  /** A chat-scoped subscription's chat and its ordering partition; absent for a user-scoped one. */
  chat?: { chatId: string; partition: number };
}

export interface PruningCheck {
  /** Rows that the resume would have sent are gone: it must be answered CURSOR_EXPIRED. */
  missed: boolean;
  /** The pruning it was judged against; a later check given it answers at once when nothing was pruned since. */
  mark: string;
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
  /**
   * Whether the outbox's retention pruned rows after the resume's cursor that it would have sent: an
   * event of a chat it follows, on its channel, that the viewer could see, whose row is gone. A quiet
   * chat's old cursor, or `head`, never is. `unlessMark`: the mark of an earlier check of the same resume.
   */
  abstract missedByPruning(scope: ResumeScope, unlessMark?: string): Promise<PruningCheck>;
}
