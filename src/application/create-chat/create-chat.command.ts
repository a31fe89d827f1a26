import { Command } from '@nestjs/cqrs';
import type { ChatView } from '../ports';

/** Answers the new chat as its creator sees it. */
export class CreateChatCommand extends Command<ChatView> {
  readonly userId: string;
  readonly name: string;
  readonly participantIds: string[];

  constructor(fields: { userId: string; name: string; participantIds: string[] }) {
    super();
    this.userId = fields.userId;
    this.name = fields.name;
    this.participantIds = fields.participantIds;
  }
}
