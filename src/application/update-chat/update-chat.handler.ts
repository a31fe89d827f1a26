import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ChatNotFound, checkArguments, decide, type UpdateChat } from '../../domain';
import { ChatReadModel, ChatUnitOfWork, Clock, type ChatView } from '../ports';
import { UpdateChatCommand } from './update-chat.command';

@CommandHandler(UpdateChatCommand)
export class UpdateChatHandler implements ICommandHandler<UpdateChatCommand, ChatView> {
  constructor(private readonly chats: ChatUnitOfWork, private readonly readModel: ChatReadModel, private readonly clock: Clock) {}

  async execute({ userId, chatId, name, addParticipantIds, removeParticipantIds }: UpdateChatCommand): Promise<ChatView> {
    const command: UpdateChat = { type: 'UpdateChat', chatId, userId, name, addParticipantIds, removeParticipantIds, at: this.clock.now().toISOString() };
    // Refused before it joins a write batch: see checkArguments.
    checkArguments(command);
    await this.chats.execute(command, (state) => decide(command, state));
    // No access check here: the decision already required a participant, and one who removed
    // themselves with this very change may see its result once.
    const chat = await this.readModel.chat(chatId, userId);
    if (!chat) throw new ChatNotFound(chatId);
    return chat;
  }
}
