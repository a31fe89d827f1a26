import { Query } from '@nestjs/cqrs';
import type { MessageView } from '../ports';

/** One message the viewer may read; `includeDeleted` serves deleteMessage's answer. */
export class GetMessageQuery extends Query<MessageView> {
  constructor(readonly viewerId: string, readonly messageId: string, readonly includeDeleted = false) {
    super();
  }
}
