import { Command } from '@nestjs/cqrs';
import type { MessageView } from '../ports';

export interface PostMessageFields {
  userId: string;
  chatId: string;
  content: string;
  /** A client's own id for the post: the same (sender, chat, clientMessageId) twice is one message. */
  clientMessageId?: string | null;
}

/** The domain's PostMessage (the createMessage mutation). Answers the message: the new one, or the earlier one when clientMessageId repeats. */
export class PostMessageCommand extends Command<MessageView> {
  readonly userId: string;
  readonly chatId: string;
  readonly content: string;
  readonly clientMessageId: string | null;

  constructor(fields: PostMessageFields) {
    super();
    this.userId = fields.userId;
    this.chatId = fields.chatId;
    this.content = fields.content;
    this.clientMessageId = fields.clientMessageId ?? null;
  }
}
