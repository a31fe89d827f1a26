import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { IncomingMessage } from 'node:http';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { createSchema, createYoga, type GraphiQLOptions, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { AccessTokenVerifier } from '../../application';
import { clientAddressOf } from '../http/client-address';
import { authenticate, type GraphQLContext } from './graphql-context';
import { toGraphQLError } from './graphql-errors';
import { resolvers } from './resolvers';
import { typeDefs } from './type-defs';
import { limitPlugins, type GraphQLLimits } from './graphql-limits';
import { rateLimitPlugin, type RateLimiter } from './rate-limit';
import { renderGraphiQLPage } from './graphiql-page';

export interface YogaDependencies {
  schema: GraphQLSchema;
  commandBus: CommandBus;
  queryBus: QueryBus;
  verifier: AccessTokenVerifier;
  limits: GraphQLLimits;
  rateLimiter: RateLimiter;
  /** A request's address for the limit of unauthenticated requests (TRUST_PROXY); default: its socket's peer. */
  clientAddress?: (request: IncomingMessage) => string;
  graphiql: boolean;
  onUnexpectedError: (error: unknown) => void;
  /** More Yoga plugins, after Parley's own (observability, tests). */
  plugins?: Plugin<GraphQLContext>[];
}

export const GRAPHQL_PATH = '/graphql';

export function createGraphQLSchema() {
  return createSchema<GraphQLContext>({ typeDefs, resolvers });
}

export function createGraphQLServer(deps: YogaDependencies): YogaServerInstance<object, GraphQLContext> {
  const clientAddress = deps.clientAddress ?? clientAddressOf([]);
  // Yoga served from Node's HTTP server puts the Node request in the context as `req`.
  const addressOf = (context: GraphQLContext) => {
    const { req } = context as GraphQLContext & { req?: IncomingMessage };
    return req ? clientAddress(req) : 'unknown';
  };
  return createYoga<object, GraphQLContext>({
    schema: deps.schema,
    graphqlEndpoint: GRAPHQL_PATH,
    graphiql: deps.graphiql ? { title: 'Parley GraphiQL' } : false,
    renderGraphiQL: renderGraphiQLOffline,
    landingPage: false,
    logging: false,
    // The body arrives read and limited already (interfaces/http/body-limit.ts); Yoga's own limit would
    // pipe it through a stream transform once more, measured at about 7 % of a sender's CPU per request.
    maxRequestBodySize: false,
    context: async ({ request }) => ({
      commandBus: deps.commandBus,
      queryBus: deps.queryBus,
      viewer: await authenticate(deps.verifier, request.headers.get('authorization')),
    }),
    maskedErrors: {
      maskError(error, message) {
        const known = toGraphQLError(error);
        if (known) return known;
        // Parse, validation, limit and variable errors are the client's to see, always with a code;
        // anything else is ours and stays masked.
        if (error instanceof GraphQLError && (!error.originalError || error.originalError instanceof GraphQLError)) {
          return withDefaultCode(error, 'BAD_USER_INPUT');
        }
        deps.onUnexpectedError(error instanceof GraphQLError ? (error.originalError ?? error) : error);
        return new GraphQLError(message, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
    plugins: [...limitPlugins(deps.limits), rateLimitPlugin(deps.rateLimiter, addressOf), ...(deps.plugins ?? [])],
  });
}

/** The page is the same for every request with the same options; rendering it means copying 9 MB. */
function renderGraphiQLOffline(options: GraphiQLOptions): string {
  const key = JSON.stringify(options);
  if (renderedGraphiQL?.key !== key) renderedGraphiQL = { key, html: renderGraphiQLPage(options, GRAPHQL_PATH) };
  return renderedGraphiQL.html;
}

let renderedGraphiQL: { key: string; html: string } | null = null;

function withDefaultCode(error: GraphQLError, code: string): GraphQLError {
  if (error.extensions?.code) return error;
  return new GraphQLError(error.message.replace(/^Syntax Error: (?=Query|Aliases|Cost)/, ''), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: { ...error.extensions, code },
  });
}
