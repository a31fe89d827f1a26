import { createClient, type Client as SocketClient } from 'graphql-ws';
import { DEFAULT_BACKOFF, reconnectDelay, type BackoffOptions } from './backoff';
import { ParleyConnectionError, ParleyError } from './errors';
import { postGraphQL, type FetchLike } from './graphql-http';
import { EphemeralSubscription, type LiveSubscription, type LiveSubscriptionHandlers, type LiveSubscriptionRequest } from './live-subscription';
import { isSafeToRepeat } from './operation-safety';
import { PresenceMap } from './presence-map';
import { ManagedSubscription, type ResumableSubscription, type SubscriptionHandlers, type SubscriptionRequest } from './resumable-subscription';
import type { HeldSubscription, SubscriptionHost } from './socket-subscription';
import { TypingIndicators, type TypingIndicatorOptions } from './typing-indicators';
import { TypingThrottle } from './typing-throttle';

/**
 * - `connecting`: the first connection is being made;
 * - `connected`: the socket is open and acknowledged, subscriptions are (being) resumed;
 * - `reconnecting`: the connection was lost and is being made again (waiting out the backoff, or trying);
 * - `offline`: like `reconnecting`, while the environment reports no network (`isOnline`);
 * - `closed`: `close()` was called, or the server refused this client for good.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed';

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export interface ParleyClientOptions {
  /** GraphQL over HTTP, e.g. `http://localhost:4000/graphql`. */
  url: string;
  /** GraphQL over WebSocket; defaults to `url` with `http` → `ws`. */
  wsUrl?: string;
  /**
   * The token for the next connection or request. `refresh` is true after the server refused the
   * last one (a 4401 or 4403 close, or UNAUTHENTICATED over HTTP): answer a new token then, not a cached one.
   * A rejection is reported to `onError` and the connection is tried again with backoff.
   */
  getToken(request: { refresh: boolean }): string | Promise<string>;
  /** A WebSocket class where there is no global one (Node.js 20: `ws`). */
  webSocketImpl?: unknown;
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike;
  backoff?: Partial<BackoffOptions>;
  /**
   * How long `request` keeps trying an operation that is safe to repeat while the server answers
   * `UNAVAILABLE`: at most `attempts` requests in all (5), and no wait that would end past `withinMs`
   * after the first was sent (20 000). Waits follow `backoff`.
   */
  retryUnavailable?: Partial<RetryOptions>;
  /** Defaults to Math.random; tests pass a fixed one. */
  random?: () => number;
  /** Defaults to the global timers and Date.now; tests pass their own. */
  timers?: Timers;
  /** Ping the server this often (ms) and drop a socket whose pong does not come within `pongTimeoutMs`; 0 turns it off. */
  keepAliveMs?: number;
  pongTimeoutMs?: number;
  /** In a browser, `() => navigator.onLine`: while it says false, the state is `offline`. */
  isOnline?: () => boolean;
  /** Errors that end nothing but are worth logging: a failed token source, a handler that threw, a fatal close. */
  onError?: (error: unknown) => void;
}

export interface RetryOptions {
  attempts: number;
  withinMs: number;
}

export const DEFAULT_RETRY_UNAVAILABLE: RetryOptions = { attempts: 5, withinMs: 20_000 };

interface Session {
  socket: SocketClient | null;
  connectedAt: number | null;
  pongTimer: unknown;
}

const SET_TYPING = 'mutation($chatId: ID!, $isTyping: Boolean!) { setTyping(chatId: $chatId, isTyping: $isTyping) }';

/** graphql-ws close codes a retry cannot fix: this client spoke the protocol wrongly. */
const FATAL_CLOSE_CODES = new Set([4400, 4406, 4409, 4429]);
/** The token was refused at `connection_init` (4401) or expired on the open socket (4403): ask for a fresh one. */
const TOKEN_CLOSE_CODES = new Set([4401, 4403]);

const systemTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

/**
 * A Parley client: GraphQL requests over HTTP and resumable subscriptions over one WebSocket
 * (graphql-ws). It keeps the last cursor of every subscription and resumes each with `after` on
 * reconnect, drops repeats by cursor, reconnects with a fresh token after 4401 or 4403, backs off with
 * jitter, and tells its connection state.
 */
export class ParleyClient {
  private currentState: ConnectionState = 'connecting';
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private readonly subscriptions = new Set<HeldSubscription>();
  private session: Session | null = null;
  /** Failed attempts since the last healthy connection. */
  private attempt = 0;
  private refreshToken = false;
  private retryTimer: unknown = null;
  private everConnected = false;
  private readonly wsUrl: string;
  private readonly timers: Timers;
  private readonly host: SubscriptionHost;
  private readonly retry: RetryOptions;
  private readonly typingThrottle: TypingThrottle;

  constructor(private readonly options: ParleyClientOptions) {
    this.wsUrl = options.wsUrl ?? options.url.replace(/^http/, 'ws');
    this.timers = options.timers ?? systemTimers;
    this.retry = { ...DEFAULT_RETRY_UNAVAILABLE, ...options.retryUnavailable };
    const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.host = {
      backoff,
      random: () => this.random(),
      setTimeout: (callback, ms) => this.timers.setTimeout(callback, ms),
      clearTimeout: (handle) => this.timers.clearTimeout(handle),
      ended: (subscription) => this.subscriptions.delete(subscription),
      reportError: (error) => this.report(error),
    };
    this.typingThrottle = new TypingThrottle(
      (chatId, isTyping) => this.request(SET_TYPING, { chatId, isTyping }),
      () => this.timers.now(),
      (error) => this.report(error),
    );
    this.connect();
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Calls `listener` on every change of state; answers a function that stops it. */
  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /**
   * A query or mutation over HTTP; throws a ParleyError with the server's code. One retry with a fresh
   * token after UNAUTHENTICATED. After UNAVAILABLE, an operation that is safe to repeat
   * (`isSafeToRepeat`: queries, posts with a clientMessageId, edits, deletions, read marks) is sent
   * again with backoff, within `retryUnavailable`; any other, such as createChat, fails at once, as
   * does the last attempt, with `attempts` set.
   */
  async request<T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const fetchImpl = this.options.fetch ?? (globalThis.fetch as unknown as FetchLike);
    const started = this.timers.now();
    let refresh = false;
    let unavailable = 0;
    for (let attempts = 1; ; attempts++) {
      const token = await this.options.getToken({ refresh });
      try {
        return await postGraphQL<T>(fetchImpl, this.options.url, token, query, variables);
      } catch (error) {
        if (!(error instanceof ParleyError)) throw error;
        if (error.code === 'UNAUTHENTICATED' && !refresh) {
          refresh = true;
          continue;
        }
        const failure = attempts > 1 ? new ParleyError(error.errors, error.status, attempts) : error;
        if (error.code !== 'UNAVAILABLE' || attempts >= this.retry.attempts || !isSafeToRepeat(query, variables)) throw failure;
        const delay = reconnectDelay(unavailable++, this.host.backoff, () => this.random());
        if (this.isClosed() || this.timers.now() + delay - started > this.retry.withinMs) throw failure;
        await new Promise<void>((resolve) => this.timers.setTimeout(resolve, delay));
        // close() ends what the client does; a request it had put off ends with its last answer.
        if (this.isClosed()) throw failure;
      }
    }
  }

  /** Subscribes until unsubscribed, across reconnects: each payload once, in cursor order. */
  subscribe<T extends { cursor: string }>(request: SubscriptionRequest<T>, handlers: SubscriptionHandlers<T>): ResumableSubscription {
    if (this.currentState === 'closed') throw new Error('the client is closed');
    return this.hold(new ManagedSubscription<T>(request, handlers, this.host));
  }

  /**
   * A subscription without a cursor (`typingIndicator`, `presenceChanged`: DESIGN.md §10), sent again
   * as it was given on every new connection. Nothing missed while disconnected is replayed: `started`
   * says when to read the current state instead.
   */
  subscribeLive<T>(request: LiveSubscriptionRequest, handlers: LiveSubscriptionHandlers<T>): LiveSubscription {
    if (this.currentState === 'closed') throw new Error('the client is closed');
    return this.hold(new EphemeralSubscription<T>(request, handlers, this.host));
  }

  /**
   * Call on every keystroke in a chat's message box: sends `setTyping(chatId, true)` at most every 2 s
   * (`TYPING_RENEW_MS`). A failure goes to `onError`; the next keystroke after the interval tries again.
   */
  typing(chatId: string): void {
    if (!this.isClosed()) this.typingThrottle.typing(chatId);
  }

  /** The box was cleared or its message sent: `setTyping(chatId, false)` at once, if a `true` went out since the last stop. */
  stopTyping(chatId: string): void {
    if (!this.isClosed()) this.typingThrottle.stopTyping(chatId);
  }

  /** These users' presence, loaded now and after every reconnect, moved by `presenceChanged`; `close()` it when done. */
  presence(userIds: Iterable<string>): PresenceMap {
    return new PresenceMap(this, userIds, (error) => this.report(error));
  }

  /** Who is typing in a chat, from `typingIndicator(chatId)`, with the 6 s lapse; `close()` it when done. */
  typingIndicator(chatId: string, options: TypingIndicatorOptions = {}): TypingIndicators {
    return new TypingIndicators(this, chatId, this.timers, options, (error) => this.report(error));
  }

  /** Drops the socket (if any) and connects again at once, resuming every subscription; e.g. when the browser comes back online. */
  reconnect(): void {
    if (this.currentState === 'closed') return;
    this.dropSession();
    this.attempt = 0;
    this.connect();
  }

  /** Ends every subscription and the connection, for good. */
  close(): void {
    if (this.currentState === 'closed') return;
    this.dropSession();
    this.setState('closed');
    for (const subscription of [...this.subscriptions]) subscription.close();
  }

  /** Keeps the subscription for every connection to come, and sends it now if the socket is acknowledged. */
  private hold<S extends HeldSubscription>(subscription: S): S {
    this.subscriptions.add(subscription);
    const socket = this.session?.connectedAt != null ? this.session.socket : null;
    if (socket) subscription.attach(socket);
    return subscription;
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.currentState === 'closed') return;
    this.setState(this.waitingState());
    const session: Session = { socket: null, connectedAt: null, pongTimer: null };
    this.session = session;
    void this.open(session);
  }

  private async open(session: Session): Promise<void> {
    let token: string;
    try {
      // Never called synchronously: nothing of the application runs before the constructor has returned.
      const refresh = this.refreshToken;
      token = await Promise.resolve().then(() => this.options.getToken({ refresh }));
    } catch (error) {
      if (this.session !== session) return;
      this.session = null;
      this.report(error);
      // The application may have closed the client on hearing of it (a user who has to sign in again).
      return this.scheduleReconnect();
    }
    if (this.session !== session) return;
    this.refreshToken = false;
    const keepAlive = this.options.keepAliveMs ?? 15_000;
    try {
      session.socket = createClient({
        url: this.wsUrl,
        webSocketImpl: this.options.webSocketImpl,
        lazy: false,
        // Reconnecting is ours: graphql-ws would resend each subscription with the variables it was first
        // given, replaying from the original cursor instead of the last one handled.
        retryAttempts: 0,
        keepAlive,
        connectionAckWaitTimeout: 10_000,
        connectionParams: { authorization: `Bearer ${token}` },
        // Every close also reaches `closed` below, which reconnects.
        onNonLazyError: () => undefined,
        on: {
          connected: () => this.onConnected(session),
          closed: (event) => this.onClosed(session, event),
          ping: (received) => {
            if (!received) this.expectPong(session);
          },
          pong: (received) => {
            if (received) this.clearPong(session);
          },
        },
      });
    } catch (error) {
      // No WebSocket implementation: nothing a retry would change.
      this.report(error);
      this.session = null;
      this.close();
    }
  }

  private onConnected(session: Session): void {
    if (this.session !== session) return;
    session.connectedAt = this.timers.now();
    this.everConnected = true;
    this.setState('connected');
    for (const subscription of [...this.subscriptions]) subscription.attach(session.socket!);
  }

  private onClosed(session: Session, event: unknown): void {
    if (this.session !== session) return;
    this.session = null;
    this.clearPong(session);
    for (const subscription of this.subscriptions) subscription.detach();
    disposeQuietly(session.socket);
    const { code, reason } = closeDetails(event);
    if (FATAL_CLOSE_CODES.has(code)) {
      this.report(new ParleyConnectionError(code, reason));
      return this.close();
    }
    if (TOKEN_CLOSE_CODES.has(code)) this.refreshToken = true;
    const healthy = session.connectedAt !== null && this.timers.now() - session.connectedAt >= this.host.backoff.resetAfterMs;
    if (healthy) this.attempt = 0;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.currentState === 'closed') return;
    const delay = reconnectDelay(this.attempt++, this.host.backoff, () => this.random());
    this.setState(this.waitingState());
    this.retryTimer = this.timers.setTimeout(() => this.connect(), delay);
  }

  private dropSession(): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const session = this.session;
    this.session = null;
    if (!session) return;
    this.clearPong(session);
    for (const subscription of this.subscriptions) subscription.detach();
    disposeQuietly(session.socket);
  }

  /** A ping that gets no pong means a socket that looks open but carries nothing (a dead network path). */
  private expectPong(session: Session): void {
    this.clearPong(session);
    const timeout = this.options.pongTimeoutMs ?? 5_000;
    session.pongTimer = this.timers.setTimeout(() => {
      session.pongTimer = null;
      if (this.session === session) session.socket?.terminate();
    }, timeout);
  }

  private clearPong(session: Session): void {
    if (session.pongTimer !== null) this.timers.clearTimeout(session.pongTimer);
    session.pongTimer = null;
  }

  private waitingState(): ConnectionState {
    if (!(this.options.isOnline?.() ?? true)) return 'offline';
    return this.everConnected ? 'reconnecting' : 'connecting';
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    for (const listener of [...this.stateListeners]) {
      try {
        listener(state);
      } catch (error) {
        this.report(error);
      }
    }
  }

  private isClosed(): boolean {
    return this.currentState === 'closed';
  }

  private random(): number {
    return (this.options.random ?? Math.random)();
  }

  private report(error: unknown): void {
    this.options.onError?.(error);
  }
}

/** graphql-ws's dispose waits for a connection in progress, and rejects if that connection fails: nothing to report then. */
function disposeQuietly(socket: SocketClient | null): void {
  if (socket) Promise.resolve().then(() => socket.dispose()).catch(() => undefined);
}

function closeDetails(event: unknown): { code: number; reason: string } {
  const { code, reason } = (event ?? {}) as { code?: unknown; reason?: unknown };
  return { code: typeof code === 'number' ? code : 1006, reason: typeof reason === 'string' ? reason : '' };
}
