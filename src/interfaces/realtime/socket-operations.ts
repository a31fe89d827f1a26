import { execute, type GraphQLSchema } from 'graphql';
import type { GraphQLContext } from '../graphql/graphql-context';
import { toGraphQLError } from '../graphql/graphql-errors';
import type { RateLimiter } from '../graphql/rate-limit';
import type { ClientConnection } from './client-connection';
import type { OperationRequest } from './operation-request';
import type { OperationStart } from './operation-start';

export interface SocketOperationsDependencies {
  schema: GraphQLSchema;
  contextFor(viewerId: string): GraphQLContext;
  /** The per-user limit of HTTP, shared with it: a socket is no way around it (DESIGN.md §5). */
  rateLimiter: RateLimiter;
  onError(error: unknown): void;
}

/**
 * Queries and mutations sent over the socket: one `next` with the result, then `complete`; nothing once
 * the client has completed it (a mutation still takes effect: only its frames are left out).
 */
export class SocketOperations {
  constructor(private readonly deps: SocketOperationsDependencies) {}

  async run(connection: ClientConnection, start: OperationStart, request: OperationRequest): Promise<void> {
    const { id } = start;
    if (!this.deps.rateLimiter.take(`user:${connection.viewerId}`)) {
      return connection.sendError(id, [{ message: 'too many operations; slow down', extensions: { code: 'RATE_LIMITED' } }]);
    }
    const result = await execute({
      schema: this.deps.schema,
      document: request.document,
      operationName: request.operationName,
      variableValues: request.variables,
      contextValue: this.deps.contextFor(connection.viewerId),
    });
    if (start.cancelled) return;
    // As over HTTP (create-yoga.ts): known failures keep their code, request errors are the client's, the rest is masked.
    const errors = result.errors?.map((error) => {
      const known = toGraphQLError(error);
      if (known) return known.toJSON();
      if (!error.originalError) return { message: error.message, path: error.path, extensions: { code: String(error.extensions?.code ?? 'BAD_USER_INPUT') } };
      this.deps.onError(error.originalError);
      return { message: 'Unexpected error.', path: error.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    });
    connection.send(JSON.stringify({ id, type: 'next', payload: errors ? { ...result, errors } : result }));
    connection.sendComplete(id);
  }
}
