import { Query } from '@nestjs/cqrs';
import type { MessageView } from '../ports';

/** One message the viewer may read; `includeDeleted` serves deleteMessage's answer. */
export class GetMessageQuery extends Query<MessageView> {
  readonly viewerId: string;
  readonly messageId: string;
  readonly includeDeleted: boolean;

  constructor(fields: { viewerId: string; messageId: string; includeDeleted?: boolean }) {
    super();
    this.viewerId = fields.viewerId;
    this.messageId = fields.messageId;
    this.includeDeleted = fields.includeDeleted ?? false;
  }
}
