import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from './graphql-context';

/**
 * Operations per caller per second, as a token bucket per key (the user, else the client address),
 * in this instance's memory. Past it: RATE_LIMITED with HTTP 429 (DESIGN.md §5).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly perSecond: number, private readonly maxKeys = 100_000) {}

  take(key: string, now = Date.now()): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      // Forget the oldest keys rather than grow without bound under many distinct callers.
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      this.buckets.set(key, (bucket = { tokens: this.perSecond, at: now }));
    }
    // Updated in place: a caller's bucket is allocated once, not per request.
    bucket.tokens = Math.min(this.perSecond, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

export function rateLimitPlugin(limiter: RateLimiter): Plugin<GraphQLContext> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const context = args.contextValue as GraphQLContext & { request?: Request };
      const key = 'userId' in context.viewer ? `user:${context.viewer.userId}` : `address:${context.request?.headers.get('x-forwarded-for') ?? 'unknown'}`;
      if (limiter.take(key)) return;
      setResultAndStopExecution({
        errors: [
          new GraphQLError('too many operations; slow down', { extensions: { code: 'RATE_LIMITED', http: { status: 429 } } }),
        ],
      });
    },
  };
}
