import { Query } from '@nestjs/cqrs';
import type { MessageReadView } from '../ports';

export class ListMessageReadsQuery extends Query<MessageReadView[]> {
  constructor(readonly viewerId: string, readonly messageId: string) {
    super();
  }
}
