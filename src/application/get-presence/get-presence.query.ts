import { Query } from '@nestjs/cqrs';
import type { PresenceView } from '../ports';

/** The presence of the named users whom the viewer may see: those who share a chat with them. */
export class GetPresenceQuery extends Query<PresenceView[]> {
  readonly viewerId: string;
  readonly userIds: readonly string[];

  constructor(fields: { viewerId: string; userIds: readonly string[] }) {
    super();
    this.viewerId = fields.viewerId;
    this.userIds = fields.userIds;
  }
}
