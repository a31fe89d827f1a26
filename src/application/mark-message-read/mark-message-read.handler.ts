import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { MessageCommands } from '../shared/message-command';
import { MarkMessageReadCommand } from './mark-message-read.command';

@CommandHandler(MarkMessageReadCommand)
export class MarkMessageReadHandler implements ICommandHandler<MarkMessageReadCommand, void> {
  constructor(private readonly messages: MessageCommands) {}

  async execute({ userId, messageId }: MarkMessageReadCommand): Promise<void> {
    await this.messages.run(messageId, (chatId, at) => ({ type: 'MarkMessageRead', chatId, userId, messageId, at }));
  }
}
