import { Command } from '@nestjs/cqrs';

export class EditMessageCommand extends Command<void> {
  readonly userId: string;
  readonly messageId: string;
  readonly content: string;

  constructor(fields: { userId: string; messageId: string; content: string }) {
    super();
    this.userId = fields.userId;
    this.messageId = fields.messageId;
    this.content = fields.content;
  }
}
