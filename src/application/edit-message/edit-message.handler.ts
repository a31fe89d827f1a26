import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { MessageCommands } from '../shared/message-command';
import { EditMessageCommand } from './edit-message.command';

@CommandHandler(EditMessageCommand)
export class EditMessageHandler implements ICommandHandler<EditMessageCommand, void> {
  constructor(private readonly messages: MessageCommands) {}

  async execute({ userId, messageId, content }: EditMessageCommand): Promise<void> {
    await this.messages.run(messageId, (chatId, at) => ({ type: 'EditMessage', chatId, userId, messageId, content, at }));
  }
}
