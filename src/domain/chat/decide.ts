import type {
  ChatCommand,
  CreateChat,
  DeleteMessage,
  EditMessage,
  MarkMessageRead,
  PostMessage,
  UpdateChat,
} from './chat-commands';
import type { ChatEvent } from './chat-events';
import {
  ChatAlreadyExists,
  ChatNotFound,
  ContentTooLarge,
  CreatorMustStay,
  InvalidChatName,
  InvalidClientMessageId,
  InvalidContent,
  InvalidUserId,
  MessageAlreadyDeleted,
  MessageNotFound,
  NotAParticipant,
  NothingToUpdate,
  NotTheSender,
  OnlyCreatorRemovesOthers,
  TooManyParticipants,
  UnstorableText,
} from './chat-errors';
import { CHAT_LIMITS } from './chat-limits';
import { charCount, isStorableText, utf8ByteLength } from './text';
import { isParticipant, type ChatState, type MessageState } from './chat-state';
import { assertNever } from './evolve';

/** Everything a decision may look at: the chat, and the one message a command is about. */
export interface DecisionState {
  chat: ChatState;
  /** Edit, delete, mark read: the message named by the command, or null when it is not in this chat. */
  message?: MessageState | null;
  /** Post: the message this sender already posted here with the same clientMessageId, if any. */
  previousPost?: MessageState | null;
}

/** Pure: the events a command produces in a given state, or a named DomainError. No events means no change. */
export function decide(command: ChatCommand, state: DecisionState): ChatEvent[] {
  switch (command.type) {
    case 'CreateChat':
      return createChat(command, state.chat);
    case 'UpdateChat':
      return updateChat(command, state.chat);
    case 'PostMessage':
      return postMessage(command, state.chat, state.previousPost ?? null);
    case 'EditMessage':
      return editMessage(command, state.chat, state.message ?? null);
    case 'DeleteMessage':
      return deleteMessage(command, state.chat, state.message ?? null);
    case 'MarkMessageRead':
      return markMessageRead(command, state.chat, state.message ?? null);
    default:
      return assertNever(command);
  }
}

function createChat(command: CreateChat, chat: ChatState): ChatEvent[] {
  if (chat.exists) throw new ChatAlreadyExists(command.chatId);
  const name = validName(command.name);
  // The creator is always a participant, whether or not they listed themselves.
  const participantIds = distinct([command.userId, ...validUserIds(command.participantIds)]);
  if (participantIds.length > CHAT_LIMITS.maxParticipants) {
    throw new TooManyParticipants(participantIds.length, CHAT_LIMITS.maxParticipants);
  }
  return [
    {
      type: 'ChatCreated',
      data: { chatId: command.chatId, name, participantIds, createdBy: command.userId, createdAt: command.at },
    },
  ];
}

function updateChat(command: UpdateChat, chat: ChatState): ChatEvent[] {
  requireParticipant(chat, command.chatId, command.userId);
  const { name, addParticipantIds, removeParticipantIds } = command;
  if (name == null && addParticipantIds == null && removeParticipantIds == null) throw new NothingToUpdate();

  const events: ChatEvent[] = [];
  if (name != null) {
    const newName = validName(name);
    if (newName !== chat.name) {
      events.push({
        type: 'ChatRenamed',
        data: { chatId: chat.chatId, name: newName, renamedBy: command.userId, renamedAt: command.at },
      });
    }
  }

  const toRemove = distinct(validUserIds(removeParticipantIds ?? [])).filter((id) => isParticipant(chat, id));
  if (toRemove.includes(chat.createdBy)) throw new CreatorMustStay(chat.chatId);
  const removesOthers = toRemove.some((id) => id !== command.userId);
  if (removesOthers && command.userId !== chat.createdBy) throw new OnlyCreatorRemovesOthers(chat.chatId);

  const toAdd = distinct(validUserIds(addParticipantIds ?? [])).filter((id) => !isParticipant(chat, id));
  const finalCount = chat.participantIds.length + toAdd.length - toRemove.length;
  if (finalCount > CHAT_LIMITS.maxParticipants) {
    throw new TooManyParticipants(finalCount, CHAT_LIMITS.maxParticipants);
  }
  if (toAdd.length > 0) {
    events.push({
      type: 'ParticipantsAdded',
      data: { chatId: chat.chatId, userIds: toAdd, addedBy: command.userId, addedAt: command.at },
    });
  }
  if (toRemove.length > 0) {
    events.push({
      type: 'ParticipantsRemoved',
      data: { chatId: chat.chatId, userIds: toRemove, removedBy: command.userId, removedAt: command.at },
    });
  }
  return events;
}

function postMessage(command: PostMessage, chat: ChatState, previousPost: MessageState | null): ChatEvent[] {
  requireParticipant(chat, command.chatId, command.userId);
  const clientMessageId = validClientMessageId(command.clientMessageId);
  // A retried post (same sender, chat and clientMessageId) is the same message: nothing new happens.
  if (clientMessageId !== null && previousPost && previousPost.senderId === command.userId
      && previousPost.clientMessageId === clientMessageId) {
    return [];
  }
  const content = validContent(command.content);
  return [
    {
      type: 'MessagePosted',
      data: {
        chatId: chat.chatId,
        messageId: command.messageId,
        senderId: command.userId,
        content,
        seq: chat.lastSeq + 1,
        clientMessageId,
        postedAt: command.at,
      },
    },
  ];
}

function editMessage(command: EditMessage, chat: ChatState, message: MessageState | null): ChatEvent[] {
  const target = requireOwnMessage(chat, command, message);
  if (target.deleted) throw new MessageAlreadyDeleted(target.messageId);
  const content = validContent(command.content);
  if (content === target.content) return [];
  return [
    {
      type: 'MessageEdited',
      data: {
        chatId: chat.chatId,
        messageId: target.messageId,
        senderId: target.senderId,
        seq: target.seq,
        content,
        postedAt: target.postedAt,
        editedAt: command.at,
      },
    },
  ];
}

function deleteMessage(command: DeleteMessage, chat: ChatState, message: MessageState | null): ChatEvent[] {
  const target = requireOwnMessage(chat, command, message);
  // Deleting twice is a safe retry, not an error.
  if (target.deleted) return [];
  return [
    {
      type: 'MessageDeleted',
      data: {
        chatId: chat.chatId,
        messageId: target.messageId,
        senderId: target.senderId,
        seq: target.seq,
        deletedAt: command.at,
      },
    },
  ];
}

function markMessageRead(command: MarkMessageRead, chat: ChatState, message: MessageState | null): ChatEvent[] {
  requireParticipant(chat, command.chatId, command.userId);
  if (!message || message.chatId !== chat.chatId) throw new MessageNotFound(command.messageId);
  // Read marks only move forward: marking an older (or the same) message records nothing.
  const mark = chat.readMarks[command.userId];
  if (mark && mark.seq >= message.seq) return [];
  return [
    {
      type: 'MessageRead',
      data: {
        chatId: chat.chatId,
        messageId: message.messageId,
        userId: command.userId,
        seq: message.seq,
        readAt: command.at,
      },
    },
  ];
}

function requireParticipant(chat: ChatState, chatId: string, userId: string): void {
  if (!chat.exists) throw new ChatNotFound(chatId);
  if (!isParticipant(chat, userId)) throw new NotAParticipant(chatId, userId);
}

function requireOwnMessage(
  chat: ChatState,
  command: { chatId: string; userId: string; messageId: string },
  message: MessageState | null,
): MessageState {
  requireParticipant(chat, command.chatId, command.userId);
  if (!message || message.chatId !== chat.chatId) throw new MessageNotFound(command.messageId);
  if (message.senderId !== command.userId) throw new NotTheSender(message.messageId);
  return message;
}

function validContent(content: string): string {
  const trimmed = storable(content.trim(), 'message content');
  // Bytes first: cheap, and it bounds the work of counting graphemes.
  const bytes = utf8ByteLength(trimmed);
  if (bytes > CHAT_LIMITS.contentMaxBytes) throw new ContentTooLarge(bytes, CHAT_LIMITS.contentMaxBytes);
  const length = charCount(trimmed);
  if (length < 1 || length > CHAT_LIMITS.contentMaxChars) {
    throw new InvalidContent(length, CHAT_LIMITS.contentMaxChars);
  }
  return trimmed;
}

function validName(name: string): string {
  const trimmed = storable(name.trim(), 'chat name');
  const length = charCount(trimmed);
  if (length < 1 || length > CHAT_LIMITS.nameMaxChars) throw new InvalidChatName(length, CHAT_LIMITS.nameMaxChars);
  return trimmed;
}

function validUserIds(ids: string[]): string[] {
  // Checked before de-duplication so that a huge list fails fast instead of being copied around.
  if (ids.length > CHAT_LIMITS.maxParticipants * 2) {
    throw new TooManyParticipants(ids.length, CHAT_LIMITS.maxParticipants);
  }
  for (const id of ids) {
    storable(id, 'participant ids');
    if (id.trim().length === 0 || id !== id.trim() || charCount(id) > CHAT_LIMITS.userIdMaxChars) {
      throw new InvalidUserId(CHAT_LIMITS.userIdMaxChars);
    }
  }
  return ids;
}

function validClientMessageId(id: string | null | undefined): string | null {
  if (id == null) return null;
  storable(id, 'clientMessageId');
  if (id.length < 1 || charCount(id) > CHAT_LIMITS.clientMessageIdMaxChars) {
    throw new InvalidClientMessageId(CHAT_LIMITS.clientMessageIdMaxChars);
  }
  return id;
}

function storable(text: string, field: string): string {
  if (!isStorableText(text)) throw new UnstorableText(field);
  return text;
}

function distinct(ids: string[]): string[] {
  return [...new Set(ids)];
}
