import { Command } from '@nestjs/cqrs';

export class DeleteMessageCommand extends Command<void> {
  readonly userId: string;
  readonly messageId: string;

  constructor(fields: { userId: string; messageId: string }) {
    super();
    this.userId = fields.userId;
    this.messageId = fields.messageId;
  }
}
