import { Query } from '@nestjs/cqrs';
import type { MessagePageView } from '../ports';

export class ListMessagesQuery extends Query<MessagePageView> {
  constructor(
    readonly viewerId: string,
    readonly chatId: string,
    readonly page: { beforeSeq?: number | null; afterSeq?: number | null; limit?: number | null },
  ) {
    super();
  }
}
