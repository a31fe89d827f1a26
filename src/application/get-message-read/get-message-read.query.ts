import { Query } from '@nestjs/cqrs';
import type { MessageReadView } from '../ports';

/** The viewer's receipt for a message: the one they recorded, or, for a message their mark had already passed, their mark. */
export class GetMessageReadQuery extends Query<MessageReadView> {
  readonly viewerId: string;
  readonly messageId: string;

  constructor(fields: { viewerId: string; messageId: string }) {
    super();
    this.viewerId = fields.viewerId;
    this.messageId = fields.messageId;
  }
}
