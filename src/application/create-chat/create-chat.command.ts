import { Command } from '@nestjs/cqrs';

/** Answers the new chat's id. */
export class CreateChatCommand extends Command<string> {
  constructor(readonly userId: string, readonly name: string, readonly participantIds: string[]) {
    super();
  }
}
