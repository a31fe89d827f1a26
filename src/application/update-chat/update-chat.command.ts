import { Command } from '@nestjs/cqrs';

export class UpdateChatCommand extends Command<void> {
  constructor(
    readonly userId: string,
    readonly chatId: string,
    readonly changes: {
      name?: string | null;
      addParticipantIds?: string[] | null;
      removeParticipantIds?: string[] | null;
    },
  ) {
    super();
  }
}
