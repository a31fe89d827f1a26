/**
 * What `decide` needs to know about a chat: folded from the chat's events by `evolveChat`.
 * Plain JSON so it can be kept as a snapshot beside the stream.
 */
export interface ChatState {
  exists: boolean;
  chatId: string;
  name: string;
  participantIds: string[];
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  lastSeq: number;
  /** Per participant, the furthest message they have read; only ever moves forward. */
  readMarks: Record<string, ReadMark>;
}

export interface ReadMark {
  seq: number;
  messageId: string;
  readAt: string;
}

/** One message, folded from that message's events by `evolveMessage`. */
export interface MessageState {
  messageId: string;
  chatId: string;
  senderId: string;
  seq: number;
  content: string;
  clientMessageId: string | null;
  postedAt: string;
  deleted: boolean;
}

export function initialChatState(chatId: string): ChatState {
  return {
    exists: false,
    chatId,
    name: '',
    participantIds: [],
    createdBy: '',
    createdAt: '',
    updatedAt: '',
    lastSeq: 0,
    readMarks: {},
  };
}

export function isParticipant(chat: ChatState, userId: string): boolean {
  return chat.participantIds.includes(userId);
}
