import { Query } from '@nestjs/cqrs';
import type { UnreadCountView } from '../ports';

/** The viewer's own unread count in each of their chats. */
export class ListUnreadCountsQuery extends Query<UnreadCountView[]> {
  readonly viewerId: string;

  constructor(fields: { viewerId: string }) {
    super();
    this.viewerId = fields.viewerId;
  }
}
