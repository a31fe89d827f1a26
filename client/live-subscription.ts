import type { Client as SocketClient, FormattedExecutionResult } from 'graphql-ws';
import { reconnectDelay } from './backoff';
import { ParleyError, RETRYABLE_CODES, type ParleyGraphQLError } from './errors';
import type { HeldSubscription, SubscriptionHost } from './resumable-subscription';

/** A subscription without a cursor: `typingIndicator` and `presenceChanged` (DESIGN.md §10). */
export interface LiveSubscriptionRequest {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

export interface LiveSubscriptionHandlers<T> {
  /** Each payload as the server sends it: at most once, nothing replayed. */
  next(payload: T): void;
  /**
   * It was sent on a new connection (the first, or one after a loss). What happened while it was not
   * running is not replayed: read the current state here (e.g. the `presence` query).
   */
  started?(): void;
  /** The connection was lost: until `started` comes again, payloads may be missed. */
  stopped?(): void;
  /** The server ended it for good (FORBIDDEN, NOT_FOUND, BAD_USER_INPUT, …). */
  error?(error: ParleyError): void;
  /** The server completed it. */
  complete?(): void;
}

export interface LiveSubscription {
  unsubscribe(): void;
}

/**
 * A subscription that is sent again, as it was first given, on every new socket. The server keeps no
 * history for it, so a reconnect cannot resume it: `started` tells the application when to catch up
 * from a query instead, as a resumable subscription would from its cursor.
 */
export class EphemeralSubscription<T> implements LiveSubscription, HeldSubscription {
  private release: (() => void) | null = null;
  /** Bumped whenever the current send is abandoned: callbacks of an older one are ignored. */
  private run = 0;
  private retries = 0;
  private retryTimer: unknown = null;
  private ended = false;
  /** The socket it was last sent on; sending twice on one socket would leave a second copy running on the server. */
  private attachedTo: SocketClient | null = null;

  constructor(private readonly request: LiveSubscriptionRequest, private readonly handlers: LiveSubscriptionHandlers<T>, private readonly host: SubscriptionHost) {}

  attach(socket: SocketClient): void {
    if (this.ended || this.attachedTo === socket) return;
    const run = this.abandon();
    this.attachedTo = socket;
    this.send(socket, run);
  }

  detach(): void {
    const wasRunning = this.attachedTo !== null;
    this.abandon();
    this.attachedTo = null;
    if (wasRunning && !this.ended) this.call(() => this.handlers.stopped?.());
  }

  unsubscribe(): void {
    if (this.ended) return;
    const release = this.release;
    this.end();
    release?.();
  }

  close(): void {
    if (this.ended) return;
    this.end();
    this.call(() => this.handlers.complete?.());
  }

  private send(socket: SocketClient, run: number): void {
    const { query, variables, operationName } = this.request;
    this.release = socket.subscribe<Record<string, T>>(
      { query, variables, operationName },
      {
        next: (result) => {
          if (run === this.run) this.onResult(result, socket);
        },
        error: (error) => {
          if (run === this.run) this.onError(error, socket);
        },
        complete: () => {
          if (run !== this.run) return;
          this.end();
          this.call(() => this.handlers.complete?.());
        },
      },
    );
    // After the subscribe went out on the socket: a query the handler sends now sees at least as much.
    this.call(() => this.handlers.started?.());
  }

  private onResult(result: FormattedExecutionResult<Record<string, T>, unknown>, socket: SocketClient): void {
    if (result.errors?.length) return this.onError(result.errors, socket);
    const payload = result.data ? Object.values(result.data)[0] : undefined;
    if (payload === undefined || payload === null) return;
    this.retries = 0;
    this.call(() => this.handlers.next(payload));
  }

  /** A GraphQL error ends this subscription (or is retried); anything else is the socket closing, which the client handles. */
  private onError(error: unknown, socket: SocketClient): void {
    if (!Array.isArray(error)) return;
    const failure = new ParleyError(error as ParleyGraphQLError[]);
    if (!RETRYABLE_CODES.has(failure.code)) return this.fail(failure);
    this.abandon();
    // Not running until the retry: a loss of the socket meanwhile has nothing more to stop.
    this.attachedTo = null;
    this.call(() => this.handlers.stopped?.());
    const delay = reconnectDelay(this.retries++, this.host.backoff, () => this.host.random());
    this.retryTimer = this.host.setTimeout(() => {
      this.retryTimer = null;
      this.attach(socket);
    }, delay);
  }

  private fail(error: ParleyError): void {
    const release = this.release;
    this.end();
    release?.();
    this.call(() => this.handlers.error?.(error));
  }

  private end(): void {
    this.ended = true;
    this.abandon();
    this.host.ended(this);
  }

  private abandon(): number {
    this.release = null;
    if (this.retryTimer !== null) this.host.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    return ++this.run;
  }

  /** An exception in the application's handler must not reach graphql-ws, which would close the socket for it. */
  private call(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.host.reportError(error);
    }
  }
}
