import { Query } from '@nestjs/cqrs';
import type { MessagePageView } from '../ports';

export interface MessagePageArguments {
  beforeSeq?: number | null;
  afterSeq?: number | null;
  limit?: number | null;
}

export class ListMessagesQuery extends Query<MessagePageView> {
  readonly viewerId: string;
  readonly chatId: string;
  readonly page: MessagePageArguments;

  constructor(fields: { viewerId: string; chatId: string; page: MessagePageArguments }) {
    super();
    this.viewerId = fields.viewerId;
    this.chatId = fields.chatId;
    this.page = fields.page;
  }
}
