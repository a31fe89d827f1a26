import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decide } from '../../domain';
import { ChatUnitOfWork, Clock } from '../ports';
import { UpdateChatCommand } from './update-chat.command';

@CommandHandler(UpdateChatCommand)
export class UpdateChatHandler implements ICommandHandler<UpdateChatCommand, void> {
  constructor(private readonly chats: ChatUnitOfWork, private readonly clock: Clock) {}

  async execute({ userId, chatId, changes }: UpdateChatCommand): Promise<void> {
    const at = this.clock.now().toISOString();
    await this.chats.run(chatId, async (session) => {
      const chat = await session.loadChat();
      await session.append(decide({ type: 'UpdateChat', chatId, userId, ...changes, at }, { chat }));
    });
  }
}
