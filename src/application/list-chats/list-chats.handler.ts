import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { ChatReadModel, type ChatView } from '../ports';
import { ListChatsQuery } from './list-chats.query';

@QueryHandler(ListChatsQuery)
export class ListChatsHandler implements IQueryHandler<ListChatsQuery, ChatView[]> {
  constructor(private readonly readModel: ChatReadModel) {}

  execute({ viewerId }: ListChatsQuery): Promise<ChatView[]> {
    return this.readModel.chatsOf(viewerId);
  }
}
