import type { Client as SocketClient } from 'graphql-ws';
import { CursorGate } from './cursor-gate';
import { CURSOR_EXPIRED, ParleyError } from './errors';
import { SocketSubscription, type SubscriptionHost } from './socket-subscription';

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

type Payload = { cursor: string };

/**
 * One subscription that outlives sockets: on every new connection it is sent again with `after` set
 * to the last cursor it let through, and its gate drops what was already handled.
 */
export class ManagedSubscription<T extends Payload> extends SocketSubscription<T, SubscriptionHandlers<T>> implements ResumableSubscription {
  private readonly gate: CursorGate<T>;
  /** The application's `reload` after CURSOR_EXPIRED: the subscription is sent again once it has settled. */
  private reloading: Promise<void> | null = null;

  constructor(private readonly request: SubscriptionRequest<T>, handlers: SubscriptionHandlers<T>, host: SubscriptionHost) {
    super(handlers, host);
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

  protected start(socket: SocketClient, run: number): void {
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

  protected receive(payload: T | null | undefined): void {
    if (!payload || typeof payload.cursor !== 'string') {
      return this.fail(new ParleyError([{ message: 'a resumable subscription must select cursor', extensions: { code: 'BAD_USER_INPUT' } }]));
    }
    this.resetBackoff();
    if (this.gate.admit(payload)) this.call(() => this.handlers.next(payload));
  }

  protected override onFailure(failure: ParleyError, socket: SocketClient): void {
    if (failure.code === CURSOR_EXPIRED && this.handlers.reload) return this.reloadFromHead(socket);
    super.onFailure(failure, socket);
  }

  private send(socket: SocketClient, run: number): void {
    const variables = { ...this.request.variables, after: this.gate.resumeCursor };
    this.subscribeOn(socket, run, { query: this.request.query, variables, operationName: this.request.operationName });
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
      // Refused (RATE_LIMITED or UNAVAILABLE after an outage, when many subscriptions reload at once):
      // retried after a backoff, or ended with the error, as the subscription itself would be. The
      // socket closed meanwhile: the next one resumes from the old cursor and hears CURSOR_EXPIRED again.
      (error: unknown) => {
        if (run === this.run && !this.ended) this.onError(error, socket);
      },
    );
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
