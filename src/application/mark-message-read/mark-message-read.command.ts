import { Command } from '@nestjs/cqrs';

export class MarkMessageReadCommand extends Command<void> {
  constructor(readonly userId: string, readonly messageId: string) {
    super();
  }
}
