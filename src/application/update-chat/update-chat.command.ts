import { Command } from '@nestjs/cqrs';
import type { ChatView } from '../ports';

export interface UpdateChatFields {
  userId: string;
  chatId: string;
  name?: string | null;
  addParticipantIds?: string[] | null;
  removeParticipantIds?: string[] | null;
}

/** Answers the chat as the change left it, also to a participant who removed themselves with it. */
export class UpdateChatCommand extends Command<ChatView> {
  readonly userId: string;
  readonly chatId: string;
  readonly name: string | null;
  readonly addParticipantIds: string[] | null;
  readonly removeParticipantIds: string[] | null;

  constructor(fields: UpdateChatFields) {
    super();
    this.userId = fields.userId;
    this.chatId = fields.chatId;
    this.name = fields.name ?? null;
    this.addParticipantIds = fields.addParticipantIds ?? null;
    this.removeParticipantIds = fields.removeParticipantIds ?? null;
  }
}
