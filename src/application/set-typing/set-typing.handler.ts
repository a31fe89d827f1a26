import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ChatNotFound, NotAParticipant, TYPING_THROTTLE_MS } from '../../domain';
import { ChatReadModel, Clock, EphemeralPublisher } from '../ports';
import { SetTypingCommand } from './set-typing.command';

/**
 * Checks that the typist is a participant (a read; nothing is written) and publishes the signal on the
 * chat's channel. Answers true once it is accepted: an `isTyping: true` within the throttle window of
 * the last one that went out is accepted and dropped, since the others already see the typist typing.
 */
@CommandHandler(SetTypingCommand)
export class SetTypingHandler implements ICommandHandler<SetTypingCommand, boolean> {
  constructor(
    private readonly readModel: ChatReadModel,
    private readonly publisher: EphemeralPublisher,
    private readonly clock: Clock,
  ) {}

  async execute({ userId, chatId, isTyping }: SetTypingCommand): Promise<boolean> {
    const membership = await this.readModel.membership(chatId, userId);
    if (!membership.exists || membership.partition === undefined) throw new ChatNotFound(chatId);
    if (!membership.isParticipant) throw new NotAParticipant(chatId, userId);
    const at = this.clock.now().getTime();
    // Routes and filters use the form events carry (UUIDs are compared case-blind by PostgreSQL).
    const chat = { chatId: chatId.toLowerCase(), partition: membership.partition };
    await this.publisher.publishTyping(chat, { chatId: chat.chatId, userId, isTyping, at }, TYPING_THROTTLE_MS);
    return true;
  }
}
