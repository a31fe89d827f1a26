import { Command } from '@nestjs/cqrs';

/** Answers the message's id: the new one, or the earlier one when clientMessageId repeats. */
export class CreateMessageCommand extends Command<string> {
  constructor(
    readonly userId: string,
    readonly chatId: string,
    readonly content: string,
    readonly clientMessageId: string | null,
  ) {
    super();
  }
}
