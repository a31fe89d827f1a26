import type { ChatEvent } from './chat-events';
import type { ChatState, MessageState, ReadMark } from './chat-state';

export function evolveChat(state: ChatState, event: ChatEvent): ChatState {
  switch (event.type) {
    case 'ChatCreated': {
      const { chatId, name, participantIds, createdBy, createdAt } = event.data;
      return {
        ...state,
        exists: true,
        chatId,
        name,
        participantIds: [...participantIds],
        createdBy,
        createdAt,
        updatedAt: createdAt,
      };
    }
    case 'ChatRenamed':
      return { ...state, name: event.data.name, updatedAt: event.data.renamedAt };
    case 'ParticipantsAdded':
      return {
        ...state,
        participantIds: [...state.participantIds, ...event.data.userIds],
        updatedAt: event.data.addedAt,
      };
    case 'ParticipantsRemoved': {
      const removed = new Set(event.data.userIds);
      // A participant who is added again starts afresh, as the read models do.
      const readMarks = Object.fromEntries(Object.entries(state.readMarks).filter(([userId]) => !removed.has(userId)));
      return {
        ...state,
        participantIds: state.participantIds.filter((id) => !removed.has(id)),
        readMarks,
        updatedAt: event.data.removedAt,
      };
    }
    case 'MessagePosted': {
      const { seq, senderId, messageId, postedAt } = event.data;
      // Posting reads everything up to one's own message: your own messages are never unread.
      return {
        ...state,
        lastSeq: seq,
        readMarks: moveMark(state.readMarks, senderId, { seq, messageId, readAt: postedAt }),
      };
    }
    case 'MessageRead': {
      const { seq, userId, messageId, readAt } = event.data;
      return { ...state, readMarks: moveMark(state.readMarks, userId, { seq, messageId, readAt }) };
    }
    case 'MessageEdited':
    case 'MessageDeleted':
      return state;
    default:
      return assertNever(event);
  }
}

export function evolveMessage(state: MessageState | null, event: ChatEvent): MessageState | null {
  switch (event.type) {
    case 'MessagePosted': {
      const { messageId, chatId, senderId, seq, content, clientMessageId, postedAt } = event.data;
      return { messageId, chatId, senderId, seq, content, clientMessageId, postedAt, deleted: false };
    }
    case 'MessageEdited':
      return state && { ...state, content: event.data.content };
    case 'MessageDeleted':
      return state && { ...state, deleted: true };
    case 'MessageRead':
    case 'ChatCreated':
    case 'ChatRenamed':
    case 'ParticipantsAdded':
    case 'ParticipantsRemoved':
      return state;
    default:
      return assertNever(event);
  }
}

function moveMark(marks: Record<string, ReadMark>, userId: string, mark: ReadMark): Record<string, ReadMark> {
  const current = marks[userId];
  if (current && current.seq >= mark.seq) return marks;
  return { ...marks, [userId]: mark };
}

export function assertNever(value: never): never {
  throw new Error(`unhandled event ${JSON.stringify(value)}`);
}
