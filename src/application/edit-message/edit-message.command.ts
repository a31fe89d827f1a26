import { Command } from '@nestjs/cqrs';

export class EditMessageCommand extends Command<void> {
  constructor(readonly userId: string, readonly messageId: string, readonly content: string) {
    super();
  }
}
