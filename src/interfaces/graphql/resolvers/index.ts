import { viewerOf, type GraphQLContext } from '../graphql-context';
import { mutationResolvers } from './mutation.resolvers';
import { queryResolvers } from './query.resolvers';
import { DateTimeScalar } from './scalars';

export const resolvers = {
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
