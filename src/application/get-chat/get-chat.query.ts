import { Query } from '@nestjs/cqrs';
import type { ChatView } from '../ports';

/**
 * `justLeft` serves updateChat's answer to a participant who removed themselves in that very update:
 * they may see the result of their own change once.
 */
export class GetChatQuery extends Query<ChatView> {
  constructor(readonly viewerId: string, readonly chatId: string, readonly justLeft = false) {
    super();
  }
}
