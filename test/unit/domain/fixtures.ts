/**
 * Builders for the chat's events and commands with readable defaults, so each test spells out only
 * what it is about. Default chat: "Team", created by ALICE with BOB and CAROL; MALLORY is never in it.
 */
import type {
  ChatCreated,
  ChatRenamed,
  CreateChat,
  DeleteMessage,
  EditMessage,
  MarkMessageRead,
  MessageDeleted,
  MessageEdited,
  MessagePosted,
  MessageRead,
  ParticipantsAdded,
  ParticipantsRemoved,
  PostMessage,
  UpdateChat,
} from '../../../src/domain';

export const CHAT = 'chat-1';
export const OTHER_CHAT = 'chat-2';
export const ALICE = 'alice';
export const BOB = 'bob';
export const CAROL = 'carol';
export const DAVE = 'dave';
export const ERIN = 'erin';
export const MALLORY = 'mallory';

/** A fixed instant `minute` minutes into the test day: time is an input, never read from a clock. */
export function at(minute: number): string {
  return new Date(Date.UTC(2024, 4, 1, 10, minute)).toISOString();
}

/** `count` distinct user ids: user-1, user-2, … */
export function userIds(count: number, prefix = 'user'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
}

// ---- events ----

export function chatCreated(data: Partial<ChatCreated['data']> = {}): ChatCreated {
  return {
    type: 'ChatCreated',
    data: { chatId: CHAT, name: 'Team', participantIds: [ALICE, BOB, CAROL], createdBy: ALICE, createdAt: at(0), ...data },
  };
}

export function chatRenamed(data: Partial<ChatRenamed['data']> = {}): ChatRenamed {
  return { type: 'ChatRenamed', data: { chatId: CHAT, name: 'Renamed', renamedBy: ALICE, renamedAt: at(1), ...data } };
}

export function participantsAdded(data: Partial<ParticipantsAdded['data']> = {}): ParticipantsAdded {
  return { type: 'ParticipantsAdded', data: { chatId: CHAT, userIds: [DAVE], addedBy: ALICE, addedAt: at(1), ...data } };
}

export function participantsRemoved(data: Partial<ParticipantsRemoved['data']> = {}): ParticipantsRemoved {
  return {
    type: 'ParticipantsRemoved',
    data: { chatId: CHAT, userIds: [BOB], removedBy: ALICE, removedAt: at(1), ...data },
  };
}

export function messagePosted(data: Partial<MessagePosted['data']> = {}): MessagePosted {
  return {
    type: 'MessagePosted',
    data: {
      chatId: CHAT,
      messageId: 'm-1',
      senderId: BOB,
      content: 'hello',
      seq: 1,
      clientMessageId: null,
      postedAt: at(2),
      ...data,
    },
  };
}

export function messageEdited(data: Partial<MessageEdited['data']> = {}): MessageEdited {
  return {
    type: 'MessageEdited',
    data: {
      chatId: CHAT,
      messageId: 'm-1',
      senderId: BOB,
      seq: 1,
      content: 'hello again',
      postedAt: at(2),
      editedAt: at(3),
      ...data,
    },
  };
}

export function messageDeleted(data: Partial<MessageDeleted['data']> = {}): MessageDeleted {
  return {
    type: 'MessageDeleted',
    data: { chatId: CHAT, messageId: 'm-1', senderId: BOB, seq: 1, deletedAt: at(3), ...data },
  };
}

export function messageRead(data: Partial<MessageRead['data']> = {}): MessageRead {
  return {
    type: 'MessageRead',
    data: { chatId: CHAT, messageId: 'm-1', userId: CAROL, seq: 1, readAt: at(4), ...data },
  };
}

// ---- commands (the caller defaults to ALICE, the creator, or BOB, the usual sender) ----

export function createChat(fields: Partial<Omit<CreateChat, 'type'>> = {}): CreateChat {
  return { type: 'CreateChat', chatId: CHAT, userId: ALICE, name: 'Team', participantIds: [BOB, CAROL], at: at(0), ...fields };
}

export function updateChat(fields: Partial<Omit<UpdateChat, 'type'>> = {}): UpdateChat {
  return { type: 'UpdateChat', chatId: CHAT, userId: ALICE, at: at(10), ...fields };
}

export function postMessage(fields: Partial<Omit<PostMessage, 'type'>> = {}): PostMessage {
  return { type: 'PostMessage', chatId: CHAT, userId: BOB, messageId: 'm-1', content: 'hello', at: at(10), ...fields };
}

export function editMessage(fields: Partial<Omit<EditMessage, 'type'>> = {}): EditMessage {
  return { type: 'EditMessage', chatId: CHAT, userId: BOB, messageId: 'm-1', content: 'hello again', at: at(10), ...fields };
}

export function deleteMessage(fields: Partial<Omit<DeleteMessage, 'type'>> = {}): DeleteMessage {
  return { type: 'DeleteMessage', chatId: CHAT, userId: BOB, messageId: 'm-1', at: at(10), ...fields };
}

export function markMessageRead(fields: Partial<Omit<MarkMessageRead, 'type'>> = {}): MarkMessageRead {
  return { type: 'MarkMessageRead', chatId: CHAT, userId: CAROL, messageId: 'm-1', at: at(10), ...fields };
}
