import { ChatNotFound, MessageNotFound, NotAParticipant } from '../../domain';
import type { ChatReadModel, MessageView } from '../ports';

/** Read access: only participants read a chat (DESIGN.md §5 "Identity and access"). */
export async function requireReader(readModel: ChatReadModel, chatId: string, userId: string): Promise<void> {
  const membership = await readModel.membership(chatId, userId);
  if (!membership.exists) throw new ChatNotFound(chatId);
  if (!membership.isParticipant) throw new NotAParticipant(chatId, userId);
}

/** The message, if the viewer may read its chat. Deleted messages are included only on request. */
export async function requireReadableMessage(
  readModel: ChatReadModel,
  messageId: string,
  userId: string,
  options: { includeDeleted: boolean },
): Promise<MessageView> {
  const seen = await readModel.messageAsSeenBy(messageId, userId);
  if (!seen) throw new MessageNotFound(messageId);
  // The message exists, so its chat does: only membership is left to check.
  if (!seen.isParticipant) throw new NotAParticipant(seen.message.chatId, userId);
  if (seen.message.isDeleted && !options.includeDeleted) throw new MessageNotFound(messageId);
  return seen.message;
}

/** Messages never move between chats, so the chat can be found before the chat is locked. */
export async function chatOfMessage(readModel: ChatReadModel, messageId: string): Promise<string> {
  const message = await readModel.message(messageId);
  if (!message) throw new MessageNotFound(messageId);
  return message.chatId;
}
