import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { ChatReadModel, type UnreadCountView } from '../ports';
import { ListUnreadCountsQuery } from './list-unread-counts.query';

@QueryHandler(ListUnreadCountsQuery)
export class ListUnreadCountsHandler implements IQueryHandler<ListUnreadCountsQuery, UnreadCountView[]> {
  constructor(private readonly readModel: ChatReadModel) {}

  execute({ viewerId }: ListUnreadCountsQuery): Promise<UnreadCountView[]> {
    return this.readModel.unreadCounts(viewerId);
  }
}
