import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ChatNotFound, checkArguments, decide, type UpdateChat } from '../../domain';
import { ChatUnitOfWork, Clock, type ChatView } from '../ports';
import { UpdateChatCommand } from './update-chat.command';

@CommandHandler(UpdateChatCommand)
export class UpdateChatHandler implements ICommandHandler<UpdateChatCommand, ChatView> {
  constructor(private readonly chats: ChatUnitOfWork, private readonly clock: Clock) {}

  /**
   * Answers the chat as this change left it, read in the change's own transaction: also to a
   * participant who removed themselves with it, who sees its result once. A read after the commit
   * could show them a message posted after their removal.
   */
  async execute({ userId, chatId, name, addParticipantIds, removeParticipantIds }: UpdateChatCommand): Promise<ChatView> {
    const command: UpdateChat = { type: 'UpdateChat', chatId, userId, name, addParticipantIds, removeParticipantIds, at: this.clock.now().toISOString() };
    // Refused before it joins a write batch: see checkArguments.
    checkArguments(command);
    const { chat } = await this.chats.execute(command, (state) => decide(command, state));
    if (!chat) throw new ChatNotFound(chatId);
    return chat;
  }
}
