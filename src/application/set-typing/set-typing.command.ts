import { Command } from '@nestjs/cqrs';

/** A participant starts or stops typing in a chat (DESIGN.md §10): published, never stored. */
export class SetTypingCommand extends Command<boolean> {
  readonly userId: string;
  readonly chatId: string;
  readonly isTyping: boolean;

  constructor(fields: { userId: string; chatId: string; isTyping: boolean }) {
    super();
    this.userId = fields.userId;
    this.chatId = fields.chatId;
    this.isTyping = fields.isTyping;
  }
}
