import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { MessageNotFound } from '../../domain';
import { ChatReadModel, type MessageReadView } from '../ports';
import { requireReadableMessage } from '../shared/chat-access';
import { GetMessageReadQuery } from './get-message-read.query';

@QueryHandler(GetMessageReadQuery)
export class GetMessageReadHandler implements IQueryHandler<GetMessageReadQuery, MessageReadView> {
  constructor(private readonly readModel: ChatReadModel) {}

  async execute({ viewerId, messageId }: GetMessageReadQuery): Promise<MessageReadView> {
    const message = await requireReadableMessage(this.readModel, messageId, viewerId, { includeDeleted: true });
    const receipt = await this.readModel.readOf(messageId, viewerId);
    if (receipt) return receipt;
    // Marking a message the mark has already passed records nothing new (DESIGN.md §5): answer with the
    // mark itself, re-addressed to the message asked about, so the answer is still a true statement.
    const mark = await this.readModel.readMark(message.chatId, viewerId);
    if (!mark) throw new MessageNotFound(messageId);
    return { ...mark, messageId };
  }
}
