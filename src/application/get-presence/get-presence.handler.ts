import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { userIdProblem } from '../../domain';
import { InvalidArgument } from '../application-errors';
import { ChatReadModel, PresenceDirectory, type PresenceView } from '../ports';
import { GetPresenceQuery } from './get-presence.query';

/** As many users as a chat may have participants: one chat header's worth in one call. */
export const MAX_PRESENCE_USERS = 1000;

/**
 * DESIGN.md §10: a viewer sees the presence of users who share a chat with them, and of nobody else.
 * Others are left out of the answer rather than refused, so asking reveals nothing about them.
 */
@QueryHandler(GetPresenceQuery)
export class GetPresenceHandler implements IQueryHandler<GetPresenceQuery, PresenceView[]> {
  constructor(private readonly readModel: ChatReadModel, private readonly directory: PresenceDirectory) {}

  async execute({ viewerId, userIds }: GetPresenceQuery): Promise<PresenceView[]> {
    if (userIds.length > MAX_PRESENCE_USERS) throw new InvalidArgument('userIds', `may name at most ${MAX_PRESENCE_USERS} users`);
    for (const userId of userIds) {
      const problem = userIdProblem(userId);
      if (problem) throw new InvalidArgument('userIds', `holds a user id that ${problem}`);
    }
    const unique = [...new Set(userIds)];
    const visible = await this.readModel.sharingAChatWith(viewerId, unique);
    return this.directory.lookup(unique.filter((userId) => visible.has(userId)));
  }
}
