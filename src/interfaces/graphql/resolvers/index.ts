import { mutationResolvers } from './mutation.resolvers';
import { queryResolvers } from './query.resolvers';
import { DateTimeScalar } from './scalars';

export const resolvers = {
  DateTime: DateTimeScalar,
  Query: queryResolvers,
  Mutation: mutationResolvers,
};
