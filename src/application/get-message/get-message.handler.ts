import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { ChatReadModel, type MessageView } from '../ports';
import { requireReadableMessage } from '../shared/chat-access';
import { GetMessageQuery } from './get-message.query';

@QueryHandler(GetMessageQuery)
export class GetMessageHandler implements IQueryHandler<GetMessageQuery, MessageView> {
  constructor(private readonly readModel: ChatReadModel) {}

  execute({ viewerId, messageId, includeDeleted }: GetMessageQuery): Promise<MessageView> {
    return requireReadableMessage(this.readModel, messageId, viewerId, { includeDeleted });
  }
}
