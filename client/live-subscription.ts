import type { Client as SocketClient } from 'graphql-ws';
import type { ParleyError } from './errors';
import { SocketSubscription, type SubscriptionHost } from './socket-subscription';

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
export class EphemeralSubscription<T> extends SocketSubscription<T, LiveSubscriptionHandlers<T>> implements LiveSubscription {
  constructor(private readonly request: LiveSubscriptionRequest, handlers: LiveSubscriptionHandlers<T>, host: SubscriptionHost) {
    super(handlers, host);
  }

  override detach(): void {
    const wasRunning = this.attachedTo !== null;
    super.detach();
    if (wasRunning && !this.ended) this.call(() => this.handlers.stopped?.());
  }

  protected start(socket: SocketClient, run: number): void {
    const { query, variables, operationName } = this.request;
    this.subscribeOn(socket, run, { query, variables, operationName });
    // After the subscribe went out on the socket: a query the handler sends now sees at least as much.
    this.call(() => this.handlers.started?.());
  }

  protected receive(payload: T | null | undefined): void {
    if (payload === undefined || payload === null) return;
    this.resetBackoff();
    this.call(() => this.handlers.next(payload));
  }

  protected override pausedForRetry(): void {
    // Not running until the retry: a loss of the socket meanwhile has nothing more to stop.
    this.attachedTo = null;
    this.call(() => this.handlers.stopped?.());
  }
}
