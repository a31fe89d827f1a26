import { Injectable } from '@nestjs/common';
import { decide, type ChatCommand } from '../../domain';
import { ChatReadModel, ChatUnitOfWork, Clock, type ChatCommandOutcome } from '../ports';
import { chatOfMessage } from './chat-access';

/**
 * What edit, delete and mark read share: they name a message, not its chat, so the chat is found
 * first (messages never move between chats, so before the lock is fine), the time is taken once
 * outside any retry, and the command is decided in that chat.
 */
@Injectable()
export class MessageCommands {
  constructor(private readonly chats: ChatUnitOfWork, private readonly readModel: ChatReadModel, private readonly clock: Clock) {}

  async run(messageId: string, build: (chatId: string, at: string) => ChatCommand): Promise<ChatCommandOutcome> {
    const chatId = await chatOfMessage(this.readModel, messageId);
    const command = build(chatId, this.clock.now().toISOString());
    return this.chats.execute(command, (state) => decide(command, state));
  }
}
