import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ChatNotFound, checkArguments, decide, type CreateChat } from '../../domain';
import { ChatUnitOfWork, Clock, IdGenerator, type ChatView } from '../ports';
import { CreateChatCommand } from './create-chat.command';

@CommandHandler(CreateChatCommand)
export class CreateChatHandler implements ICommandHandler<CreateChatCommand, ChatView> {
  constructor(private readonly chats: ChatUnitOfWork, private readonly clock: Clock, private readonly ids: IdGenerator) {}

  /** Answers the chat as created, read in the creating transaction: nothing later shows in it. */
  async execute({ userId, name, participantIds }: CreateChatCommand): Promise<ChatView> {
    const command: CreateChat = { type: 'CreateChat', chatId: this.ids.newId(), userId, name, participantIds, at: this.clock.now().toISOString() };
    // Refused before it joins a write batch: see checkArguments.
    checkArguments(command);
    const { chat } = await this.chats.execute(command, (state) => decide(command, state));
    if (!chat) throw new ChatNotFound(command.chatId);
    return chat;
  }
}
