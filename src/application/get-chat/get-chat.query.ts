import { Query } from '@nestjs/cqrs';
import type { ChatView } from '../ports';

export class GetChatQuery extends Query<ChatView> {
  readonly viewerId: string;
  readonly chatId: string;

  constructor(fields: { viewerId: string; chatId: string }) {
    super();
    this.viewerId = fields.viewerId;
    this.chatId = fields.chatId;
  }
}
