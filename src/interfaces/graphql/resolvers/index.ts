import { viewerOf, type GraphQLContext } from '../graphql-context';
import { mutationResolvers } from './mutation.resolvers';
import { queryResolvers } from './query.resolvers';
import { DateTimeScalar } from './scalars';

/**
 * DESIGN §5 allows added fields. Chat and message ids are server-made UUIDs with no ':' in them, so
 * the first ':' of these ids separates the two parts whatever a user id holds.
 */
const compositeIds = {
  MessageRead: { id: (read: { messageId: string; userId: string }) => `${read.messageId}:${read.userId}` },
  UnreadCount: { id: (count: { chatId: string; userId: string }) => `${count.chatId}:${count.userId}` },
};

export const resolvers = {
  ...compositeIds,
  DateTime: DateTimeScalar,
  Query: queryResolvers,
  Mutation: mutationResolvers,
  Chat: {
    unreadCount(chat: { id: string; unreadCount?: number }, _: unknown, context: GraphQLContext) {
      if (chat.unreadCount !== undefined) return chat.unreadCount;
      if (!context.unreadCountOf) return 0;
      return context.unreadCountOf(chat.id, viewerOf(context));
    },
  },
};
