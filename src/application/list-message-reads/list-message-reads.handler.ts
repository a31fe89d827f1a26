import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { ChatReadModel, type MessageReadView } from '../ports';
import { requireReadableMessage } from '../shared/chat-access';
import { ListMessageReadsQuery } from './list-message-reads.query';

@QueryHandler(ListMessageReadsQuery)
export class ListMessageReadsHandler implements IQueryHandler<ListMessageReadsQuery, MessageReadView[]> {
  constructor(private readonly readModel: ChatReadModel) {}

  async execute({ viewerId, messageId }: ListMessageReadsQuery): Promise<MessageReadView[]> {
    await requireReadableMessage(this.readModel, messageId, viewerId, { includeDeleted: true });
    return this.readModel.readsOf(messageId);
  }
}
