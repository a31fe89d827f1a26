import { Query } from '@nestjs/cqrs';
import type { UnreadCountView } from '../ports';

/** The viewer's own unread count in each of their chats. */
export class ListUnreadCountsQuery extends Query<UnreadCountView[]> {
  constructor(readonly viewerId: string) {
    super();
  }
}
