/** A minimal GraphQL-over-HTTP client, so tests see status codes and error extensions as clients do. */
export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } & Record<string, unknown>; path?: unknown[] }[];
}

export async function graphql<T = Record<string, any>>(
  url: string,
  token: string | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status'>;
  return { status: response.status, ...body };
}

/** The data of a response that must have succeeded; otherwise fails with the errors it got. */
export async function ok<T = Record<string, any>>(
  url: string,
  token: string | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const response = await graphql<T>(url, token, query, variables);
  if (response.errors?.length || !response.data) {
    throw new Error(`GraphQL request failed (${response.status}): ${JSON.stringify(response.errors)}`);
  }
  return response.data;
}

export function errorCodes(response: GraphQLResponse): (string | undefined)[] {
  return (response.errors ?? []).map((error) => error.extensions?.code);
}
