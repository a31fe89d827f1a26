import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** A real graphql-ws client against a Parley server, as an application would use it. */
export function connectClient(httpUrl: string, token: string | null, onClosed?: (code: number, reason: string) => void): Client {
  return createClient({
    url: httpUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    // The tests assert on closes themselves; the default would print them to the console.
    onNonLazyError: () => undefined,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        onClosed?.(code, String(reason));
      },
    },
  });
}

/** What a subscription received, with a way to wait until enough has arrived. */
export class Received<T = any> {
  readonly items: T[] = [];
  readonly errors: unknown[] = [];
  completed = false;
  private readonly waiters: { test: () => boolean; resolve: () => void }[] = [];
  unsubscribe: () => void = () => undefined;

  constructor(readonly name = 'subscription') {}

  push(item: T): void {
    this.items.push(item);
    this.check();
  }

  fail(error: unknown): void {
    this.errors.push(error);
    this.check();
  }

  complete(): void {
    this.completed = true;
    this.check();
  }

  /** Resolves once `count` items arrived; fails with what did arrive when they do not come in time. */
  async count(count: number, timeoutMs = 15_000): Promise<T[]> {
    await this.until(() => this.items.length >= count, timeoutMs, `${count} items`);
    return this.items.slice(0, count);
  }

  async error(timeoutMs = 15_000): Promise<unknown> {
    await this.until(() => this.errors.length > 0, timeoutMs, 'an error');
    return this.errors[0];
  }

  /**
   * An at-most-once subscription (typing, presence) hears only what is published once its receiver
   * follows the chat: calls `poke` (which publishes something it should hear) again and again, waiting
   * `waitMs` after each, until `heard` holds; fails after `attempts` or on the subscription's error.
   */
  async pokeUntil(heard: () => boolean, poke: () => Promise<unknown>, what: string, { attempts = 100, waitMs = 200 } = {}): Promise<void> {
    for (let attempt = 0; !heard(); attempt++) {
      if (this.errors.length > 0) throw new Error(`${this.name} failed: ${JSON.stringify(this.errors)}`);
      if (attempt > attempts) throw new Error(`${this.name}: ${what} never came`);
      await poke();
      await this.until(heard, waitMs, what).catch(() => undefined);
    }
  }

  until(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.name}: waited ${timeoutMs} ms for ${what}; got ${this.items.length} items ${JSON.stringify(this.items.slice(-3))} and errors ${JSON.stringify(this.errors)}`));
      }, timeoutMs);
      this.waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  private check(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.test()) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
}

/** Subscribes and collects the field's payloads. */
export function subscribe<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}): Received<T> {
  const field = /{\s*(\w+)/.exec(query.slice(query.indexOf('{')))?.[1] ?? '';
  const received = new Received<T>(field);
  received.unsubscribe = client.subscribe<Record<string, T>>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) received.fail(result.errors);
        else received.push(result.data![field]!);
      },
      error: (error) => received.fail(error),
      complete: () => received.complete(),
    },
  );
  return received;
}
