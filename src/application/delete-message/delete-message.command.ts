import { Command } from '@nestjs/cqrs';

export class DeleteMessageCommand extends Command<void> {
  constructor(readonly userId: string, readonly messageId: string) {
    super();
  }
}
