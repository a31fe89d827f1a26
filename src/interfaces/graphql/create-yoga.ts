import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { createSchema, createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { AccessTokenVerifier } from '../../application';
import { authenticate, type GraphQLContext } from './graphql-context';
import { toGraphQLError } from './graphql-errors';
import { resolvers } from './resolvers';
import { typeDefs } from './type-defs';

export interface GraphQLLimits {
  maxQueryDepth: number;
  maxQueryCost: number;
}

export interface YogaDependencies {
  schema: GraphQLSchema;
  commandBus: CommandBus;
  queryBus: QueryBus;
  verifier: AccessTokenVerifier;
  limits: GraphQLLimits;
  graphiql: boolean;
  onUnexpectedError: (error: unknown) => void;
}

export const GRAPHQL_PATH = '/graphql';

export function createGraphQLSchema() {
  return createSchema<GraphQLContext>({ typeDefs, resolvers });
}

export function createGraphQLServer(deps: YogaDependencies): YogaServerInstance<object, GraphQLContext> {
  return createYoga<object, GraphQLContext>({
    schema: deps.schema,
    graphqlEndpoint: GRAPHQL_PATH,
    graphiql: deps.graphiql,
    landingPage: false,
    logging: false,
    context: async ({ request }) => ({
      commandBus: deps.commandBus,
      queryBus: deps.queryBus,
      viewer: await authenticate(deps.verifier, request.headers.get('authorization')),
    }),
    maskedErrors: {
      maskError(error, message) {
        const known = toGraphQLError(error);
        if (known) return known;
        // Validation and parse errors from graphql-js are the client's to see; anything else is ours.
        if (error instanceof GraphQLError && !error.originalError) return error;
        deps.onUnexpectedError(error instanceof GraphQLError ? (error.originalError ?? error) : error);
        return new GraphQLError(message, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
    plugins: [
      maxDepthPlugin({ n: deps.limits.maxQueryDepth, exposeLimits: true }),
      costLimitPlugin({ maxCost: deps.limits.maxQueryCost, exposeLimits: true }),
      maxAliasesPlugin({ n: 15, exposeLimits: true }),
    ],
  });
}
