import {
  CreateChatCommand,
  DeleteMessageCommand,
  EditMessageCommand,
  GetMessageQuery,
  GetMessageReadQuery,
  MarkMessageReadCommand,
  PostMessageCommand,
  SetTypingCommand,
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

/**
 * Each mutation runs its command. Chat commands and posts answer with what they wrote; the others
 * answer from the read model their transaction already updated.
 */
export const mutationResolvers = {
  createChat(_: unknown, { input }: { input: CreateChatInput }, context: GraphQLContext) {
    return context.commandBus.execute(new CreateChatCommand({ ...input, userId: viewerOf(context) }));
  },

  updateChat(_: unknown, { input }: { input: UpdateChatInput }, context: GraphQLContext) {
    return context.commandBus.execute(new UpdateChatCommand({ ...input, userId: viewerOf(context) }));
  },

  createMessage(_: unknown, { createMessageInput: input }: { createMessageInput: CreateMessageInput }, context: GraphQLContext) {
    return context.commandBus.execute(new PostMessageCommand({ ...input, userId: viewerOf(context) }));
  },

  async updateMessage(_: unknown, { messageId, content }: { messageId: string; content: string }, context: GraphQLContext) {
    const userId = viewerOf(context);
    await context.commandBus.execute(new EditMessageCommand({ userId, messageId, content }));
    return context.queryBus.execute(new GetMessageQuery({ viewerId: userId, messageId }));
  },

  async deleteMessage(_: unknown, { messageId }: { messageId: string }, context: GraphQLContext) {
    const userId = viewerOf(context);
    await context.commandBus.execute(new DeleteMessageCommand({ userId, messageId }));
    const message = await context.queryBus.execute(new GetMessageQuery({ viewerId: userId, messageId, includeDeleted: true }));
    return { id: message.id, chatId: message.chatId, cursor: message.cursor };
  },

  async markMessageAsRead(_: unknown, { messageId }: { messageId: string }, context: GraphQLContext) {
    const userId = viewerOf(context);
    await context.commandBus.execute(new MarkMessageReadCommand({ userId, messageId }));
    return context.queryBus.execute(new GetMessageReadQuery({ viewerId: userId, messageId }));
  },

  setTyping(_: unknown, { chatId, isTyping }: { chatId: string; isTyping?: boolean | null }, context: GraphQLContext) {
    // `isTyping: null` spelled out means the default, as leaving it out does.
    return context.commandBus.execute(new SetTypingCommand({ userId: viewerOf(context), chatId, isTyping: isTyping ?? true }));
  },
};
