import {
  GetChatQuery,
  GetHeadQuery,
  GetPresenceQuery,
  ListChatsQuery,
  ListMessageReadsQuery,
  ListMessagesQuery,
  ListUnreadCountsQuery,
} from '../../../application';
import { viewerOf, type GraphQLContext } from '../graphql-context';

type Args<T> = Record<string, never> & T;

export const queryResolvers = {
  me: (_: unknown, __: unknown, context: GraphQLContext) => viewerOf(context),

  head: (_: unknown, __: unknown, context: GraphQLContext) => {
    viewerOf(context);
    return context.queryBus.execute(new GetHeadQuery());
  },

  chats: (_: unknown, __: unknown, context: GraphQLContext) =>
    context.queryBus.execute(new ListChatsQuery({ viewerId: viewerOf(context) })),

  chat: (_: unknown, { id }: Args<{ id: string }>, context: GraphQLContext) =>
    context.queryBus.execute(new GetChatQuery({ viewerId: viewerOf(context), chatId: id })),

  messages: (
    _: unknown,
    args: Args<{ chatId: string; beforeSeq?: number | null; afterSeq?: number | null; limit?: number | null }>,
    context: GraphQLContext,
  ) => {
    const { chatId, ...page } = args;
    return context.queryBus.execute(new ListMessagesQuery({ viewerId: viewerOf(context), chatId, page }));
  },

  unreadCounts: (_: unknown, __: unknown, context: GraphQLContext) =>
    context.queryBus.execute(new ListUnreadCountsQuery({ viewerId: viewerOf(context) })),

  presence: (_: unknown, { userIds }: Args<{ userIds: string[] }>, context: GraphQLContext) =>
    context.queryBus.execute(new GetPresenceQuery({ viewerId: viewerOf(context), userIds })),

  messageReads: (_: unknown, { messageId }: Args<{ messageId: string }>, context: GraphQLContext) =>
    context.queryBus.execute(new ListMessageReadsQuery({ viewerId: viewerOf(context), messageId })),
};
