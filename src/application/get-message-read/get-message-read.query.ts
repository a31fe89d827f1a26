import { Query } from '@nestjs/cqrs';
import type { MessageReadView } from '../ports';

/** The viewer's receipt for a message: the one they recorded, or, for a message their mark had already passed, their mark. */
export class GetMessageReadQuery extends Query<MessageReadView> {
  constructor(readonly viewerId: string, readonly messageId: string) {
    super();
  }
}
