/** A GraphQL error as the server formats it; `extensions.code` says which (DESIGN.md §5). */
export interface ParleyGraphQLError {
  message: string;
  path?: readonly (string | number)[];
  extensions?: { code?: string } & Record<string, unknown>;
}

/**
 * An operation (HTTP request or subscription) the server refused; `code` is the first error's code.
 * `attempts` says how many times the request was sent (more than 1 after retries of `UNAVAILABLE`).
 */
export class ParleyError extends Error {
  override name = 'ParleyError';
  readonly code: string;

  constructor(readonly errors: readonly ParleyGraphQLError[], readonly status?: number, readonly attempts = 1) {
    super(errors.map((error) => error.message).join('; ') || 'request failed');
    this.code = errors[0]?.extensions?.code ?? 'INTERNAL_SERVER_ERROR';
  }

  /** The server may have applied the write before it failed (`UNAVAILABLE` with `extensions.outcomeUnknown`). */
  get outcomeUnknown(): boolean {
    return this.errors.some((error) => error.extensions?.outcomeUnknown === true);
  }
}

/** The server closed the socket with a code that retrying cannot fix (a protocol error of this client). */
export class ParleyConnectionError extends Error {
  override name = 'ParleyConnectionError';

  constructor(readonly code: number, readonly reason: string) {
    super(`the server closed the connection with ${code}${reason ? `: ${reason}` : ''}`);
  }
}

/**
 * Subscription errors worth another try: the payload could not be produced, the client went too fast,
 * or a dependency of the server is down (a subscription only reads, and resumes from its cursor).
 */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set(['INTERNAL_SERVER_ERROR', 'RATE_LIMITED', 'UNAVAILABLE']);

/**
 * A resume's cursor is older than what the server keeps (its OUTBOX_RETENTION): reload state with
 * queries and subscribe from `head` (the `reload` handler of a subscription does it).
 */
export const CURSOR_EXPIRED = 'CURSOR_EXPIRED';
