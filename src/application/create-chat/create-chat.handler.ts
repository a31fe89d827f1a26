import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decide } from '../../domain';
import { ChatUnitOfWork, Clock, IdGenerator } from '../ports';
import { CreateChatCommand } from './create-chat.command';

@CommandHandler(CreateChatCommand)
export class CreateChatHandler implements ICommandHandler<CreateChatCommand, string> {
  constructor(private readonly chats: ChatUnitOfWork, private readonly clock: Clock, private readonly ids: IdGenerator) {}

  async execute({ userId, name, participantIds }: CreateChatCommand): Promise<string> {
    const chatId = this.ids.newId();
    const at = this.clock.now().toISOString();
    await this.chats.run(chatId, async (session) => {
      const chat = await session.loadChat();
      await session.append(decide({ type: 'CreateChat', chatId, userId, name, participantIds, at }, { chat }));
    });
    return chatId;
  }
}
