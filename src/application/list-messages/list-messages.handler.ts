import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { InvalidArgument } from '../application-errors';
import { ChatReadModel, type MessagePageRequest, type MessagePageView } from '../ports';
import { requireReader } from '../shared/chat-access';
import { ListMessagesQuery } from './list-messages.query';

export const MESSAGE_PAGE_LIMITS = { default: 50, max: 200 } as const;

@QueryHandler(ListMessagesQuery)
export class ListMessagesHandler implements IQueryHandler<ListMessagesQuery, MessagePageView> {
  constructor(private readonly readModel: ChatReadModel) {}

  async execute({ viewerId, chatId, page }: ListMessagesQuery): Promise<MessagePageView> {
    const request = toPageRequest(page);
    await requireReader(this.readModel, chatId, viewerId);
    return this.readModel.messages(chatId, request);
  }
}

function toPageRequest(page: ListMessagesQuery['page']): MessagePageRequest {
  const limit = page.limit ?? MESSAGE_PAGE_LIMITS.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > MESSAGE_PAGE_LIMITS.max) {
    throw new InvalidArgument('limit', `must be 1..${MESSAGE_PAGE_LIMITS.max} (got ${limit})`);
  }
  const { beforeSeq, afterSeq } = page;
  if (beforeSeq != null && afterSeq != null) {
    throw new InvalidArgument('beforeSeq', 'and afterSeq cannot be combined');
  }
  if (afterSeq != null) return { direction: 'after', seq: nonNegative('afterSeq', afterSeq), limit };
  if (beforeSeq != null) return { direction: 'before', seq: nonNegative('beforeSeq', beforeSeq), limit };
  return { direction: 'latest', limit };
}

function nonNegative(argument: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgument(argument, `must be a whole number >= 0 (got ${value})`);
  return value;
}
