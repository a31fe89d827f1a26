import { ParleyError, type ParleyGraphQLError } from './errors';

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string }) => Promise<{
  status: number;
  json(): Promise<unknown>;
}>;

/**
 * One GraphQL operation over HTTP POST with a bearer token. Answers `data`, or throws a ParleyError
 * carrying the server's `extensions.code` (also for a non-GraphQL answer, such as a proxy's 502).
 */
export async function postGraphQL<T>(
  fetchImpl: FetchLike,
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<T> {
  const response = await fetchImpl(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  let body: { data?: T | null; errors?: ParleyGraphQLError[] };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    throw new ParleyError([{ message: `HTTP ${response.status} without a GraphQL answer`, extensions: { code: codeOfStatus(response.status) } }], response.status);
  }
  if (body.errors?.length) throw new ParleyError(body.errors, response.status);
  if (body.data == null) throw new ParleyError([{ message: 'the answer has no data', extensions: { code: 'INTERNAL_SERVER_ERROR' } }], response.status);
  return body.data;
}

function codeOfStatus(status: number): string {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 429) return 'RATE_LIMITED';
  // A load balancer with no healthy instance behind it says the same as Parley's own 503.
  if (status === 503) return 'UNAVAILABLE';
  return status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_USER_INPUT';
}
