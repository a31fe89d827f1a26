import { GraphQLError } from 'graphql';
import { Unauthenticated, Unavailable } from '../../application';
import { DomainError } from '../../domain';

/**
 * The one place where failures become `extensions.code` (DESIGN.md §5). Anything that is not a known
 * business or request error is masked, so internals never leak to clients.
 */
export function toGraphQLError(error: unknown): GraphQLError | null {
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  if (original instanceof DomainError || original instanceof Unauthenticated) {
    return withCode(error, original.message, original.code);
  }
  // Retry later: HTTP 503, so that proxies and clients that look only at the status tell it from a bug.
  if (original instanceof Unavailable) {
    return withCode(error, original.message, original.code, { status: 503 }, original.outcomeUnknown ? { outcomeUnknown: true } : undefined);
  }
  return null;
}

function withCode(source: unknown, message: string, code: string, http?: { status: number }, more?: Record<string, unknown>): GraphQLError {
  const located = source instanceof GraphQLError ? source : undefined;
  return new GraphQLError(message, {
    nodes: located?.nodes,
    source: located?.source,
    positions: located?.positions,
    path: located?.path,
    extensions: { code, ...more, ...(http ? { http } : {}) },
  });
}
