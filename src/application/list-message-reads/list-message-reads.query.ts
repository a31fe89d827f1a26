import { Query } from '@nestjs/cqrs';
import type { MessageReadView } from '../ports';

export class ListMessageReadsQuery extends Query<MessageReadView[]> {
  readonly viewerId: string;
  readonly messageId: string;

  constructor(fields: { viewerId: string; messageId: string }) {
    super();
    this.viewerId = fields.viewerId;
    this.messageId = fields.messageId;
  }
}
