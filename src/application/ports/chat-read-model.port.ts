/** Read models (CQRS query side). Shapes follow the GraphQL contract of DESIGN.md §5. */
export interface ChatView {
  id: string;
  name: string;
  participantIds: string[];
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  lastMessage: MessageView | null;
  /** For the viewer the chat was read for. */
  unreadCount: number;
  cursor: string;
}

export interface UnreadCountView {
  chatId: string;
  userId: string;
  unreadCount: number;
  cursor: string;
}

export interface MessageView {
  id: string;
  chatId: string;
  senderId: string;
  content: string;
  seq: number;
  createdAt: Date;
  isEdited: boolean;
  editedAt: Date | null;
  isDeleted: boolean;
  cursor: string;
}

export interface MessageReadView {
  messageId: string;
  chatId: string;
  userId: string;
  readAt: Date;
  cursor: string;
}

export interface MessagePageView {
  messages: MessageView[];
  hasMore: boolean;
}

export type MessagePageRequest =
  | { direction: 'latest'; limit: number }
  | { direction: 'after'; seq: number; limit: number }
  | { direction: 'before'; seq: number; limit: number };

export interface ChatMembership {
  exists: boolean;
  isParticipant: boolean;
  /**
   * The newest committed event when this was read, in the same snapshot: the answer holds after every
   * event up to it, and says nothing of later ones. Absent when the adapter cannot tell.
   */
  asOf?: string;
  /** The chat's ordering partition, when it exists and the adapter can tell. */
  partition?: number;
}

export abstract class ChatReadModel {
  abstract membership(chatId: string, userId: string): Promise<ChatMembership>;
  abstract chat(chatId: string, viewerId: string): Promise<ChatView | null>;
  abstract chatsOf(userId: string): Promise<ChatView[]>;
  /** The chats the user is in, with their partitions: where an announcement about the user travels. */
  abstract chatAddressesOf(userId: string): Promise<{ chatId: string; partition: number }[]>;
  /** Which of `userIds` share at least one chat with the viewer (the viewer counts as sharing with themself). */
  abstract sharingAChatWith(viewerId: string, userIds: readonly string[]): Promise<Set<string>>;
  /** Per chat of the user: messages above their read mark, sent by others, not deleted (DESIGN.md §4). */
  abstract unreadCounts(userId: string): Promise<UnreadCountView[]>;
  abstract unreadCountOf(chatId: string, userId: string): Promise<number>;
  /** Current counts in one chat of these participants (or of all of them); non-participants are left out. */
  abstract unreadCountsIn(chatId: string, userIds: readonly string[] | 'all'): Promise<UnreadCountView[]>;
  abstract messages(chatId: string, page: MessagePageRequest): Promise<MessagePageView>;
  /** Includes deleted messages (flagged), so callers can tell "deleted" from "never existed". */
  abstract message(messageId: string): Promise<MessageView | null>;
  /** The message and whether the viewer is in its chat, in one read (every mutation answers with it). */
  abstract messageAsSeenBy(messageId: string, viewerId: string): Promise<{ message: MessageView; isParticipant: boolean } | null>;
  abstract readsOf(messageId: string): Promise<MessageReadView[]>;
  abstract readOf(messageId: string, userId: string): Promise<MessageReadView | null>;
  /** The user's read mark in a chat as a receipt: the message they read furthest, and when. */
  abstract readMark(chatId: string, userId: string): Promise<MessageReadView | null>;
  /** Every event at or before the head is committed and visible; see DESIGN.md §4 "Resume without gaps". */
  abstract head(): Promise<string>;
}
