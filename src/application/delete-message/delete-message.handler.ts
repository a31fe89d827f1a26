import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { MessageCommands } from '../shared/message-command';
import { DeleteMessageCommand } from './delete-message.command';

@CommandHandler(DeleteMessageCommand)
export class DeleteMessageHandler implements ICommandHandler<DeleteMessageCommand, void> {
  constructor(private readonly messages: MessageCommands) {}

  async execute({ userId, messageId }: DeleteMessageCommand): Promise<void> {
    await this.messages.run(messageId, (chatId, at) => ({ type: 'DeleteMessage', chatId, userId, messageId, at }));
  }
}
