import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { decide } from '../../domain';
import { ChatUnitOfWork, Clock, IdGenerator } from '../ports';
import { CreateMessageCommand } from './create-message.command';

@CommandHandler(CreateMessageCommand)
export class CreateMessageHandler implements ICommandHandler<CreateMessageCommand, string> {
  constructor(private readonly chats: ChatUnitOfWork, private readonly clock: Clock, private readonly ids: IdGenerator) {}

  async execute({ userId, chatId, content, clientMessageId }: CreateMessageCommand): Promise<string> {
    const messageId = this.ids.newId();
    const at = this.clock.now().toISOString();
    return this.chats.run(chatId, async (session) => {
      const chat = await session.loadChat();
      const previousPost = clientMessageId ? await session.findPost(userId, clientMessageId) : null;
      const command = { type: 'PostMessage', chatId, userId, messageId, content, clientMessageId, at } as const;
      const events = decide(command, { chat, previousPost });
      await session.append(events);
      return events.length === 0 && previousPost ? previousPost.messageId : messageId;
    });
  }
}
