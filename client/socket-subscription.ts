import type { Client as SocketClient, FormattedExecutionResult } from 'graphql-ws';
import { reconnectDelay, type BackoffOptions } from './backoff';
import { ParleyError, RETRYABLE_CODES, type ParleyGraphQLError } from './errors';

/** What a subscription needs from the client that holds it. */
export interface SubscriptionHost {
  readonly backoff: BackoffOptions;
  random(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  ended(subscription: HeldSubscription): void;
  reportError(error: unknown): void;
}

/** A subscription as the client holds it: sent on each acknowledged socket, let go when the socket is lost. */
export interface HeldSubscription {
  attach(socket: SocketClient): void;
  detach(): void;
  /** Ends it without telling the server (the client is closing the socket anyway). */
  close(): void;
}

/** The handlers every kind of held subscription calls; each kind documents its own and may add more. */
export interface SocketSubscriptionHandlers<T> {
  next(payload: T): void;
  error?(error: ParleyError): void;
  complete?(): void;
}

/** The operation as graphql-ws sends it. */
export interface SocketOperation {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

/**
 * The lifecycle a subscription has whatever it resumes from: sent on a socket, abandoned when that
 * socket is lost, retried after a backoff on a retryable error, ended by the server, the application
 * or the client. A kind says what it sends when attached (`start`) and what it makes of a payload
 * (`receive`).
 */
export abstract class SocketSubscription<T, Handlers extends SocketSubscriptionHandlers<T>> implements HeldSubscription {
  private release: (() => void) | null = null;
  /** Bumped whenever the current send is abandoned: callbacks of an older one are ignored. */
  protected run = 0;
  private retries = 0;
  private retryTimer: unknown = null;
  protected ended = false;
  /** The socket it was last sent on; sending twice on one socket would leave a second copy running on the server. */
  protected attachedTo: SocketClient | null = null;

  constructor(protected readonly handlers: Handlers, protected readonly host: SubscriptionHost) {}

  /** Sends the subscription on a freshly acknowledged socket. */
  attach(socket: SocketClient): void {
    if (this.ended || this.attachedTo === socket) return;
    const run = this.abandon();
    this.attachedTo = socket;
    this.start(socket, run);
  }

  /** The socket is gone; the next connection attaches again. */
  detach(): void {
    this.abandon();
    this.attachedTo = null;
  }

  unsubscribe(): void {
    if (this.ended) return;
    const release = this.release;
    this.end();
    release?.();
  }

  /** Ends the subscription without telling the server (the client is closing the socket anyway). */
  close(): void {
    if (this.ended) return;
    this.end();
    this.call(() => this.handlers.complete?.());
  }

  /** What this kind sends on a socket it was just attached to, as send `run`. */
  protected abstract start(socket: SocketClient, run: number): void;

  /** A payload the server sent (null or undefined when the result carried none). */
  protected abstract receive(payload: T | null | undefined): void;

  /** Subscribes on the socket; only the callbacks of this `run` are heard. */
  protected subscribeOn(socket: SocketClient, run: number, operation: SocketOperation): void {
    this.release = socket.subscribe<Record<string, T>>(operation, {
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
    });
  }

  /** A GraphQL error ends this subscription (or is retried); anything else is the socket closing, which the client handles. */
  protected onError(error: unknown, socket: SocketClient): void {
    if (!Array.isArray(error)) return;
    this.onFailure(new ParleyError(error as ParleyGraphQLError[]), socket);
  }

  /** The server refused it: a retryable code is sent again on the same socket after a backoff, any other ends it. */
  protected onFailure(failure: ParleyError, socket: SocketClient): void {
    if (!RETRYABLE_CODES.has(failure.code)) return this.fail(failure);
    this.retryLater(socket);
  }

  /** Called once a retryable error has abandoned the current send, before the wait for the retry. */
  protected pausedForRetry(): void {}

  /** The server sent a payload again: the next retryable error waits the shortest delay. */
  protected resetBackoff(): void {
    this.retries = 0;
  }

  protected fail(error: ParleyError): void {
    const release = this.release;
    this.end();
    release?.();
    this.call(() => this.handlers.error?.(error));
  }

  protected abandon(): number {
    this.release = null;
    if (this.retryTimer !== null) this.host.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    return ++this.run;
  }

  /** An exception in the application's handler must not reach graphql-ws, which would close the socket for it. */
  protected call(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.host.reportError(error);
    }
  }

  private onResult(result: FormattedExecutionResult<Record<string, T>, unknown>, socket: SocketClient): void {
    if (result.errors?.length) return this.onError(result.errors, socket);
    this.receive(result.data ? Object.values(result.data)[0] : undefined);
  }

  private retryLater(socket: SocketClient): void {
    this.abandon();
    this.pausedForRetry();
    const delay = reconnectDelay(this.retries++, this.host.backoff, () => this.host.random());
    this.retryTimer = this.host.setTimeout(() => {
      this.retryTimer = null;
      // attach skips the socket it is attached to: forget it, so that the retry is sent.
      this.attachedTo = null;
      this.attach(socket);
    }, delay);
  }

  private end(): void {
    this.ended = true;
    this.abandon();
    this.host.ended(this);
  }
}
