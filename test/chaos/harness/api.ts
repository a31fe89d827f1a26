import type { ChaosCluster } from './cluster';

export interface GraphQLAnswer<T = any> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; outcomeUnknown?: boolean } }[];
  status: number;
}

/**
 * What one operation ended with, after the retries a careful client makes. `unknown`: some attempt may
 * have been applied without the client learning it (an UNAVAILABLE with `outcomeUnknown`, a request
 * that got no answer); the retry with the same input settles it, and the oracle checks that it did.
 */
export type Outcome<T = any> =
  | { ok: true; data: T; attempts: number; transient: string[]; unknown: boolean; longestAttemptMs: number }
  | { ok: false; code: string; attempts: number; transient: string[]; unknown: boolean; longestAttemptMs: number };

/** Failures that say nothing about the operation itself: the client tries again, on the other sender. */
const TRANSIENT_CODES = new Set(['INTERNAL_SERVER_ERROR', 'RATE_LIMITED', 'UNAVAILABLE']);
/**
 * How long a client keeps retrying before it gives up: longer than the longest fault (a 40 s
 * partition, during which a request may hang for REQUEST_TIMEOUT_MS), so that giving up means the
 * system did not come back, not that the fault was long.
 */
const PATIENCE_MS = 100_000;
/**
 * A client's deadline per request: above what the server may take to answer a write that met a silent
 * database (its statement deadline, then settling the lost session, about 2 × 10 s), so that such a
 * write is seen answered with its code rather than as "no answer".
 */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * GraphQL over HTTP as a client that retries would use it: a request that fails for a reason outside
 * the request (the sender died mid-request, its database session was cut, a rate limit) is sent
 * again, unchanged, to another sender. Mutations stay safe to retry because the workload makes them
 * so (createMessage carries a clientMessageId; the others are idempotent in the domain).
 */
export class Api {
  private turn = 0;

  constructor(private readonly cluster: ChaosCluster) {}

  /** A sender to send to, alternating; `avoid` is one that just failed. */
  senderUrl(avoid?: string, prefer?: string): string {
    const senders = this.cluster.alive('sender').filter((s) => !s.paused);
    if (senders.length === 0) throw new Error('no sender is alive');
    const preferred = prefer ? senders.find((s) => s.name === prefer) : undefined;
    if (preferred && preferred.url !== avoid) return preferred.url;
    const candidates = senders.filter((s) => s.url !== avoid);
    const list = candidates.length ? candidates : senders;
    return list[this.turn++ % list.length]!.url;
  }

  async request<T = any>(
    token: string | null,
    query: string,
    variables: Record<string, unknown>,
    options: { prefer?: string; maxAttempts?: number; unsafeToRepeat?: boolean } = {},
  ): Promise<Outcome<T>> {
    const maxAttempts = options.maxAttempts ?? Infinity;
    const began = Date.now();
    const transient: string[] = [];
    let unknown = false;
    /**
     * Attempts that count against `maxAttempts`: those that failed inside the server. An UNAVAILABLE, a
     * rate limit or a network failure says the way to the data is down, nothing about the request.
     */
    let failedInside = 0;
    let url: string | undefined;
    let longestAttemptMs = 0;
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      const sent = Date.now();
      try {
        url = this.senderUrl(url, attempt === 1 ? options.prefer : undefined);
        const answer = await post<T>(url, token, query, variables).finally(() => (longestAttemptMs = Math.max(longestAttemptMs, Date.now() - sent)));
        const error = answer.errors?.[0];
        const code = error?.extensions?.code ?? (answer.errors?.length ? 'NO_CODE' : undefined);
        if (!code && answer.data) return { ok: true, data: answer.data, attempts: attempt, transient, unknown, longestAttemptMs };
        if (code && !TRANSIENT_CODES.has(code) && answer.status < 500) {
          return { ok: false, code, attempts: attempt, transient, unknown, longestAttemptMs };
        }
        const outcomeUnknown = error?.extensions?.outcomeUnknown === true;
        unknown ||= outcomeUnknown;
        if (code !== 'UNAVAILABLE' && code !== 'RATE_LIMITED') failedInside++;
        reason = `${code ?? 'no data'}${outcomeUnknown ? ' outcomeUnknown' : ''} (HTTP ${answer.status})`;
        // A client never repeats what is not safe to repeat (createChat) once it may have been applied.
        if (outcomeUnknown && options.unsafeToRepeat) {
          transient.push(reason);
          return { ok: false, code: `${code} outcomeUnknown`, attempts: attempt, transient, unknown, longestAttemptMs };
        }
      } catch (error) {
        reason = networkReason(error);
        // Refused before it was sent: surely not applied; anything else may have reached the sender.
        unknown ||= !reason.includes('ECONNREFUSED');
      }
      transient.push(reason);
      if (failedInside >= maxAttempts || Date.now() - began > PATIENCE_MS) {
        return { ok: false, code: `GAVE_UP: ${transient.slice(-3).join('; ')}`, attempts: attempt, transient, unknown, longestAttemptMs };
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt))); // deliberate: a client's backoff between retries
    }
  }

  /** For the oracle: a read that must succeed. */
  async read<T = any>(token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const outcome = await this.request<T>(token, query, variables);
    if (!outcome.ok) throw new Error(`query failed: ${outcome.code}: ${query}`);
    return outcome.data;
  }
}

async function post<T>(url: string, token: string | null, query: string, variables: Record<string, unknown>): Promise<GraphQLAnswer<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  try {
    return { status: response.status, ...(JSON.parse(text) as Omit<GraphQLAnswer<T>, 'status'>) };
  } catch {
    return { status: response.status, errors: [{ message: text.slice(0, 200), extensions: { code: 'UNAVAILABLE' } }] };
  }
}

function networkReason(error: unknown): string {
  // No answer within REQUEST_TIMEOUT_MS: the request hung (and may still be applied later).
  if ((error as Error).name === 'TimeoutError') return `network: TimeoutError (no answer in ${REQUEST_TIMEOUT_MS} ms)`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return `network: ${cause?.code ?? cause?.message ?? (error as Error).message}`;
}
