import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { ChatNotFound } from '../../domain';
import { ChatReadModel, type ChatView } from '../ports';
import { requireReader } from '../shared/chat-access';
import { GetChatQuery } from './get-chat.query';

@QueryHandler(GetChatQuery)
export class GetChatHandler implements IQueryHandler<GetChatQuery, ChatView> {
  constructor(private readonly readModel: ChatReadModel) {}

  async execute({ viewerId, chatId }: GetChatQuery): Promise<ChatView> {
    await requireReader(this.readModel, chatId, viewerId);
    const chat = await this.readModel.chat(chatId, viewerId);
    if (!chat) throw new ChatNotFound(chatId);
    return chat;
  }
}
