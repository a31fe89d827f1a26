import type { Client as SocketClient, FormattedExecutionResult } from 'graphql-ws';
import { reconnectDelay, type BackoffOptions } from './backoff';
import { CursorGate } from './cursor-gate';
import { CURSOR_EXPIRED, ParleyError, RETRYABLE_CODES, type ParleyGraphQLError } from './errors';

/** What a subscription asks for. The operation must declare `$after: String` and pass it to its field. */
export interface SubscriptionRequest<T> {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  /**
   * Start after this cursor: the `head` read in the same request as the initial query, for a gapless
   * start. Without it, the subscription starts at the server's head when it is first sent.
   */
  after?: string;
  /**
   * Payloads whose cursors rise per partition rather than across the subscription. The default
   * knows Parley's one such subscription: `unreadCountUpdated`, per chat.
   */
  partitionBy?: (payload: T) => string;
}

export interface SubscriptionHandlers<T> {
  /** Each payload once, in cursor order, across reconnects. */
  next(payload: T): void;
  /** The server ended the subscription for good (FORBIDDEN, NOT_FOUND, BAD_USER_INPUT, …). */
  error?(error: ParleyError): void;
  /**
   * The server no longer holds everything after this subscription's cursor (`CURSOR_EXPIRED`: the
   * client was away longer than the server's OUTBOX_RETENTION). Reload, with queries, the state this
   * subscription keeps current; once the returned promise settles the subscription goes on from the
   * server's head as read just before `reload` was called, so that nothing after the reload's queries is
   * missed (what is in both arrives twice: merge by id). Without it, `error` gets the CURSOR_EXPIRED.
   */
  reload?(): void | Promise<void>;
  /** The server completed the subscription. */
  complete?(): void;
}

export interface ResumableSubscription {
  /** The cursor it would resume after now. */
  readonly cursor: string | undefined;
  unsubscribe(): void;
}

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

type Payload = { cursor: string };

/**
 * One subscription that outlives sockets: on every new connection it is sent again with `after` set
 * to the last cursor it let through, and its gate drops what was already handled.
 */
export class ManagedSubscription<T extends Payload> implements ResumableSubscription, HeldSubscription {
  private readonly gate: CursorGate<T>;
  private release: (() => void) | null = null;
  /** Bumped whenever the current send is abandoned: callbacks of an older one are ignored. */
  private run = 0;
  private retries = 0;
  private retryTimer: unknown = null;
  private ended = false;
  /** The socket it was last sent on; sending twice on one socket would leave a second copy running on the server. */
  private attachedTo: SocketClient | null = null;
  /** The application's `reload` after CURSOR_EXPIRED: the subscription is sent again once it has settled. */
  private reloading: Promise<void> | null = null;

  constructor(private readonly request: SubscriptionRequest<T>, private readonly handlers: SubscriptionHandlers<T>, private readonly host: SubscriptionHost) {
    if (!/\$after\b/.test(request.query)) {
      throw new Error('a resumable subscription must declare $after: String and pass it as the field\'s after argument');
    }
    const partitionBy = request.partitionBy ?? (/\bunreadCountUpdated\b/.test(request.query) ? byChat : undefined);
    this.gate = new CursorGate<T>(request.after, partitionBy as ((payload: T) => string) | undefined);
  }

  get cursor(): string | undefined {
    return this.gate.resumeCursor;
  }

  get isActive(): boolean {
    return !this.ended;
  }

  /** Sends the subscription on a freshly acknowledged socket. */
  attach(socket: SocketClient): void {
    if (this.ended || this.attachedTo === socket) return;
    const run = this.abandon();
    this.attachedTo = socket;
    if (this.reloading) {
      void this.reloading.then(() => {
        if (run === this.run) this.send(socket, run);
      });
      return;
    }
    if (this.gate.resumeCursor !== undefined) return this.send(socket, run);
    // Without a starting point a reconnect could not resume: take the server's head first.
    queryOnce<{ head: string }>(socket, '{ head }').then(
      ({ head }) => {
        if (run !== this.run) return;
        this.gate.startAt(head);
        this.send(socket, run);
      },
      (error: unknown) => {
        if (run === this.run) this.onError(error, socket);
      },
    );
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

  private send(socket: SocketClient, run: number): void {
    const variables = { ...this.request.variables, after: this.gate.resumeCursor };
    this.release = socket.subscribe<Record<string, T>>(
      { query: this.request.query, variables, operationName: this.request.operationName },
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
  }

  private onResult(result: FormattedExecutionResult<Record<string, T>, unknown>, socket: SocketClient): void {
    if (result.errors?.length) return this.onError(result.errors, socket);
    const payload = result.data ? Object.values(result.data)[0] : undefined;
    if (!payload || typeof payload.cursor !== 'string') {
      return this.fail(new ParleyError([{ message: 'a resumable subscription must select cursor', extensions: { code: 'BAD_USER_INPUT' } }]));
    }
    this.retries = 0;
    if (this.gate.admit(payload)) this.call(() => this.handlers.next(payload));
  }

  /** A GraphQL error ends this subscription (or is retried); anything else is the socket closing, which the client handles. */
  private onError(error: unknown, socket: SocketClient): void {
    if (!Array.isArray(error)) return;
    const failure = new ParleyError(error as ParleyGraphQLError[]);
    if (failure.code === CURSOR_EXPIRED && this.handlers.reload) return this.reloadFromHead(socket);
    if (!RETRYABLE_CODES.has(failure.code)) return this.fail(failure);
    this.abandon();
    const delay = reconnectDelay(this.retries++, this.host.backoff, () => this.host.random());
    this.retryTimer = this.host.setTimeout(() => {
      this.retryTimer = null;
      this.attachedTo = null;
      this.attach(socket);
    }, delay);
  }

  /**
   * After CURSOR_EXPIRED: the head first, then the application's reload, then the subscription after
   * that head (DESIGN.md §4: `head` + a query + a subscription `after: head` is gapless). A head read
   * after the reload could pass over what was committed in between.
   */
  private reloadFromHead(socket: SocketClient): void {
    const run = this.abandon();
    this.attachedTo = socket;
    queryOnce<{ head: string }>(socket, '{ head }').then(
      ({ head }) => {
        if (run !== this.run || this.ended) return;
        this.gate.restartAt(head);
        const reloading = Promise.resolve()
          .then(() => this.handlers.reload?.())
          .catch((error: unknown) => this.host.reportError(error))
          .finally(() => {
            if (this.reloading === reloading) this.reloading = null;
          });
        this.reloading = reloading;
        void reloading.then(() => {
          if (run === this.run && !this.ended) this.send(socket, run);
        });
      },
      // The socket closed meanwhile: the next one resumes from the old cursor and hears CURSOR_EXPIRED again.
      () => undefined,
    );
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

function byChat(payload: { chatId?: unknown }): string {
  return String(payload.chatId);
}

/** A query over the socket (the server answers one `next`, then `complete`). */
function queryOnce<T>(socket: SocketClient, query: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let data: T | undefined;
    socket.subscribe<T>(
      { query },
      {
        next: (result) => {
          if (result.errors?.length) reject(result.errors);
          else data = result.data as T;
        },
        error: reject,
        complete: () => (data === undefined ? reject(new Error(`no answer to ${query}`)) : resolve(data)),
      },
    );
  });
}
