import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decide } from '../../domain';
import { ChatReadModel, ChatUnitOfWork, Clock } from '../ports';
import { chatOfMessage } from '../shared/chat-access';
import { DeleteMessageCommand } from './delete-message.command';

@CommandHandler(DeleteMessageCommand)
export class DeleteMessageHandler implements ICommandHandler<DeleteMessageCommand, void> {
  constructor(private readonly chats: ChatUnitOfWork, private readonly readModel: ChatReadModel, private readonly clock: Clock) {}

  async execute({ userId, messageId }: DeleteMessageCommand): Promise<void> {
    const chatId = await chatOfMessage(this.readModel, messageId);
    const at = this.clock.now().toISOString();
    await this.chats.run(chatId, async (session) => {
      const chat = await session.loadChat();
      const message = await session.loadMessage(messageId);
      await session.append(decide({ type: 'DeleteMessage', chatId, userId, messageId, at }, { chat, message }));
    });
  }
}
