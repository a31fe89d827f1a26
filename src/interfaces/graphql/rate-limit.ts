import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from './graphql-context';

/** `perSecond` operations a second, with bursts of as many: two numbers, so one per connection costs nothing. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(private readonly perSecond: number, now = Date.now()) {
    this.tokens = perSecond;
    this.at = now;
  }

  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Operations per caller per second, as a token bucket per key (the user, else the client address),
 * in this instance's memory. Past it: RATE_LIMITED with HTTP 429 (DESIGN.md §5).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly perSecond: number, private readonly maxKeys = 100_000) {}

  take(key: string, now = Date.now()): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      // Forget the oldest keys rather than grow without bound under many distinct callers.
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      // Allocated once per caller and updated in place, not per request.
      this.buckets.set(key, (bucket = new TokenBucket(this.perSecond, now)));
    }
    return bucket.take(now);
  }
}

/** `addressOf`: where an unauthenticated request comes from (never a header the client chose freely). */
export function rateLimitPlugin(limiter: RateLimiter, addressOf: (context: GraphQLContext) => string): Plugin<GraphQLContext> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const context = args.contextValue as GraphQLContext;
      const key = 'userId' in context.viewer ? `user:${context.viewer.userId}` : `address:${addressOf(context)}`;
      if (limiter.take(key)) return;
      setResultAndStopExecution({
        errors: [
          new GraphQLError('too many operations; slow down', { extensions: { code: 'RATE_LIMITED', http: { status: 429 } } }),
        ],
      });
    },
  };
}
