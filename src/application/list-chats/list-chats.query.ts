import { Query } from '@nestjs/cqrs';
import type { ChatView } from '../ports';

/** The viewer's chats, most recently active first. */
export class ListChatsQuery extends Query<ChatView[]> {
  readonly viewerId: string;

  constructor(fields: { viewerId: string }) {
    super();
    this.viewerId = fields.viewerId;
  }
}
