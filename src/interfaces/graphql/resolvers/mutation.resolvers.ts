import {
  CreateChatCommand,
  CreateMessageCommand,
  DeleteMessageCommand,
  EditMessageCommand,
  GetChatQuery,
  GetMessageQuery,
  GetMessageReadQuery,
  MarkMessageReadCommand,
  UpdateChatCommand,
} from '../../../application';
import { viewerOf, type GraphQLContext } from '../graphql-context';

interface CreateChatInput {
  name: string;
  participantIds: string[];
}

interface UpdateChatInput {
  chatId: string;
  name?: string | null;
  addParticipantIds?: string[] | null;
  removeParticipantIds?: string[] | null;
}

interface CreateMessageInput {
  chatId: string;
  content: string;
  clientMessageId?: string | null;
}

/** Each mutation runs its command, then answers from the read model its transaction already updated. */
export const mutationResolvers = {
  async createChat(_: unknown, { input }: { input: CreateChatInput }, context: GraphQLContext) {
    const userId = viewerOf(context);
    const chatId = await context.commandBus.execute(new CreateChatCommand(userId, input.name, input.participantIds));
    return context.queryBus.execute(new GetChatQuery(userId, chatId));
  },

  async updateChat(_: unknown, { input }: { input: UpdateChatInput }, context: GraphQLContext) {
    const userId = viewerOf(context);
    const { chatId, ...changes } = input;
    await context.commandBus.execute(new UpdateChatCommand(userId, chatId, changes));
    const justLeft = changes.removeParticipantIds?.includes(userId) ?? false;
    return context.queryBus.execute(new GetChatQuery(userId, chatId, justLeft));
  },

  async createMessage(_: unknown, { createMessageInput: input }: { createMessageInput: CreateMessageInput }, context: GraphQLContext) {
    const userId = viewerOf(context);
    const messageId = await context.commandBus.execute(
      new CreateMessageCommand(userId, input.chatId, input.content, input.clientMessageId ?? null),
    );
    return context.queryBus.execute(new GetMessageQuery(userId, messageId, true));
  },

  async updateMessage(_: unknown, { messageId, content }: { messageId: string; content: string }, context: GraphQLContext) {
    const userId = viewerOf(context);
    await context.commandBus.execute(new EditMessageCommand(userId, messageId, content));
    return context.queryBus.execute(new GetMessageQuery(userId, messageId));
  },

  async deleteMessage(_: unknown, { messageId }: { messageId: string }, context: GraphQLContext) {
    const userId = viewerOf(context);
    await context.commandBus.execute(new DeleteMessageCommand(userId, messageId));
    const message = await context.queryBus.execute(new GetMessageQuery(userId, messageId, true));
    return { id: message.id, chatId: message.chatId, cursor: message.cursor };
  },

  async markMessageAsRead(_: unknown, { messageId }: { messageId: string }, context: GraphQLContext) {
    const userId = viewerOf(context);
    await context.commandBus.execute(new MarkMessageReadCommand(userId, messageId));
    return context.queryBus.execute(new GetMessageReadQuery(userId, messageId));
  },
};
