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
  ChatNameTooLarge,
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
import { clientMessageIdProblem, userIdProblem } from './identifiers';
import { charCountOutside, isStorableText, utf8ByteLength } from './text';
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
  checkArguments(command);
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

/**
 * The rules on what a command names that need no state (DESIGN.md §5): participant ids,
 * clientMessageId, chat names, and that an update asks for something. `decide` applies them before
 * any other rule, and the application before any database work, so that input breaking them never
 * joins a write batch nor becomes a lookup key: an id too large for its index row would make
 * PostgreSQL refuse the whole batch. Content is left to `decide`: it is never a key, and a retried post
 * is answered with the first one whatever it carries.
 */
export function checkArguments(command: ChatCommand): void {
  switch (command.type) {
    case 'CreateChat':
      validName(command.name);
      validUserIds(command.participantIds);
      return;
    case 'UpdateChat': {
      const { name, addParticipantIds, removeParticipantIds } = command;
      if (name == null && addParticipantIds == null && removeParticipantIds == null) throw new NothingToUpdate();
      if (name != null) validName(name);
      validUserIds(removeParticipantIds ?? []);
      validUserIds(addParticipantIds ?? []);
      return;
    }
    case 'PostMessage':
      validClientMessageId(command.clientMessageId);
      return;
    case 'EditMessage':
    case 'DeleteMessage':
    case 'MarkMessageRead':
      return;
    default:
      return assertNever(command);
  }
}

// The functions below run after checkArguments: the names and ids they take are valid.

function createChat(command: CreateChat, chat: ChatState): ChatEvent[] {
  if (chat.exists) throw new ChatAlreadyExists(command.chatId);
  const name = command.name.trim();
  // The creator is always a participant, whether or not they listed themselves.
  const participantIds = distinct([command.userId, ...command.participantIds]);
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

  const events: ChatEvent[] = [];
  if (name != null) {
    const newName = name.trim();
    if (newName !== chat.name) {
      events.push({
        type: 'ChatRenamed',
        data: { chatId: chat.chatId, name: newName, renamedBy: command.userId, renamedAt: command.at },
      });
    }
  }

  const toRemove = distinct(removeParticipantIds ?? []).filter((id) => isParticipant(chat, id));
  if (toRemove.includes(chat.createdBy)) throw new CreatorMustStay(chat.chatId);
  const removesOthers = toRemove.some((id) => id !== command.userId);
  if (removesOthers && command.userId !== chat.createdBy) throw new OnlyCreatorRemovesOthers(chat.chatId);

  const toAdd = distinct(addParticipantIds ?? []).filter((id) => !isParticipant(chat, id));
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
  const clientMessageId = command.clientMessageId ?? null;
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
  const length = charCountOutside(trimmed, CHAT_LIMITS.contentMaxChars);
  if (length !== null) throw new InvalidContent(length, CHAT_LIMITS.contentMaxChars);
  return trimmed;
}

function validName(name: string): void {
  const trimmed = storable(name.trim(), 'chat name');
  const bytes = utf8ByteLength(trimmed);
  if (bytes > CHAT_LIMITS.nameMaxBytes) throw new ChatNameTooLarge(bytes, CHAT_LIMITS.nameMaxBytes);
  const length = charCountOutside(trimmed, CHAT_LIMITS.nameMaxChars);
  if (length !== null) throw new InvalidChatName(length, CHAT_LIMITS.nameMaxChars);
}

function validUserIds(ids: readonly string[]): void {
  // Checked before de-duplication so that a huge list fails fast instead of being copied around.
  if (ids.length > CHAT_LIMITS.maxParticipants * 2) {
    throw new TooManyParticipants(ids.length, CHAT_LIMITS.maxParticipants);
  }
  for (const id of ids) {
    storable(id, 'participant ids');
    const problem = userIdProblem(id);
    if (problem) throw new InvalidUserId(problem);
  }
}

function validClientMessageId(id: string | null | undefined): void {
  if (id == null) return;
  storable(id, 'clientMessageId');
  const problem = clientMessageIdProblem(id);
  if (problem) throw new InvalidClientMessageId(problem);
}

function storable(text: string, field: string): string {
  if (!isStorableText(text)) throw new UnstorableText(field);
  return text;
}

function distinct(ids: string[]): string[] {
  return [...new Set(ids)];
}
