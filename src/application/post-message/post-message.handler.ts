import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { checkArguments, decide, MessageNotFound, type MessagePosted, type PostMessage } from '../../domain';
import { ChatReadModel, ChatUnitOfWork, Clock, IdGenerator, type MessageView, type RecordedEvent } from '../ports';
import { PostMessageCommand } from './post-message.command';

@CommandHandler(PostMessageCommand)
export class PostMessageHandler implements ICommandHandler<PostMessageCommand, MessageView> {
  constructor(
    private readonly chats: ChatUnitOfWork,
    private readonly readModel: ChatReadModel,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
  ) {}

  async execute({ userId, chatId, content, clientMessageId }: PostMessageCommand): Promise<MessageView> {
    // The id and the time are taken once, outside any retry of the transaction.
    const command: PostMessage = {
      type: 'PostMessage',
      chatId,
      userId,
      messageId: this.ids.newId(),
      content,
      clientMessageId,
      at: this.clock.now().toISOString(),
    };
    // Refused before it joins a write batch: see checkArguments.
    checkArguments(command);
    const { recorded, state } = await this.chats.execute(command, (loaded) => decide(command, loaded));
    const posted = recorded.find((record) => record.event.type === 'MessagePosted');
    // The answer comes from the event and its cursor: no read after the write.
    if (posted) return postedMessage(posted);
    // A retried post answers with the message the first one made, as it is now.
    const earlier = state.previousPost ? await this.readModel.message(state.previousPost.messageId) : null;
    if (!earlier) throw new MessageNotFound(command.messageId);
    return earlier;
  }
}

function postedMessage(record: RecordedEvent): MessageView {
  const { messageId, chatId, senderId, content, seq, postedAt } = (record.event as MessagePosted).data;
  return {
    id: messageId,
    chatId,
    senderId,
    content,
    seq,
    createdAt: new Date(postedAt),
    isEdited: false,
    editedAt: null,
    isDeleted: false,
    cursor: record.cursor,
  };
}
