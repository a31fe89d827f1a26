import { CloseCode, MessageType, parseMessage, type SubscribeMessage } from 'graphql-ws';
import type { WebSocket } from 'ws';
import type { VerifiedAccessToken } from '../../application';
import { TokenBucket } from '../graphql/rate-limit';
import { OperationStart } from './operation-start';
import type { ClientError, FrameSink, Subscription } from './subscription';
import type { CorkableStream, WriteCoalescer } from './write-coalescer';

/** Close codes of ours, beside graphql-ws's 44xx (documented in the README). */
export const SLOW_CONSUMER_CLOSE_CODE = 4503;
/** More than WS_MAX_CONNECTIONS_PER_USER sockets of one user on this instance. */
export const TOO_MANY_CONNECTIONS_CLOSE_CODE = 4430;
export const GOING_AWAY_CLOSE_CODE = 1001;
/** A client that reads nothing of a paced send for this long is as slow as one whose buffer overflows. */
const DRAIN_TIMEOUT_MS = 30_000;
/** setTimeout fires at once for a longer delay (2^31-1 ms, about 24.8 days): a later expiry is waited for in steps. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface ConnectionLimits {
  /** Bytes the server may hold for a client that does not read; past it the client is cut off. */
  maxBufferedBytes: number;
  /** Live messages held for one subscription while it replays history. */
  maxPendingMessages: number;
  connectionInitTimeoutMs: number;
  /** Operations a connection may start per second (token bucket, with this burst). */
  operationsPerSecond: number;
  /** Subscriptions one connection may hold at once. */
  maxSubscriptions: number;
}

export interface ConnectionHandlers {
  authenticate(connection: ClientConnection, payload: Record<string, unknown> | undefined): Promise<VerifiedAccessToken | null>;
  /** Whether one more connection of this user may be acknowledged here. */
  admit(connection: ClientConnection, userId: string): boolean;
  /** Handles one `subscribe`; whatever it still does after an await, it first asks `start.cancelled`. */
  subscribe(connection: ClientConnection, message: SubscribeMessage, start: OperationStart): Promise<void>;
  unsubscribe(subscription: Subscription): void;
  closed(connection: ClientConnection): void;
  slowConsumer(connection: ClientConnection): void;
  failed(error: unknown): void;
  /** Holds a connection's writes to the end of the event-loop turn (when it has a stream of its own). */
  readonly coalescer?: WriteCoalescer;
}

/**
 * One graphql-transport-ws connection: the protocol state, its subscriptions and its bounded send
 * buffer. Thousands are idle at once, so it holds little: handlers and limits are shared, and what only
 * a starting subscription or the first seconds need is made on demand and let go.
 */
export class ClientConnection implements FrameSink {
  readonly subscriptions = new Map<string, Subscription>();
  /**
   * The start that owns each id whose `subscribe` is being handled (a query running, a subscription's
   * access check or replay), taken at once so a repeat is refused. A `complete` cancels it and frees the
   * id at once, while the cancelled start may still be finishing. Null while nothing starts.
   */
  private starts: Map<string, OperationStart> | null = null;
  /** Starts still being handled, cancelled ones included: each holds work, so each counts against the limit. */
  private running = 0;
  /** Set by each server ping, cleared by the pong: still set at the next ping means the client is gone. */
  awaitingPong = false;
  private userId: string | null = null;
  private initReceived = false;
  private closed = false;
  private readonly operations: TokenBucket;
  private initTimer: NodeJS.Timeout | undefined;
  private expiryTimer?: NodeJS.Timeout;

  constructor(
    readonly socket: WebSocket,
    private readonly limits: ConnectionLimits,
    private readonly handlers: ConnectionHandlers,
    /** The TCP stream the socket writes to, for the coalescer; none for a test's socket. */
    private readonly stream: CorkableStream | null = null,
  ) {
    this.operations = new TokenBucket(limits.operationsPerSecond);
    this.initTimer = setTimeout(() => this.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout'), limits.connectionInitTimeoutMs);
    socket.on('message', (data, isBinary) => {
      if (isBinary) return this.close(CloseCode.BadRequest, 'Binary frames are not supported: graphql-transport-ws messages are JSON text frames');
      this.onMessage(data.toString()).catch((error: unknown) => {
        this.close(CloseCode.InternalServerError, 'Internal server error');
        this.handlers.failed(error);
      });
    });
    socket.once('close', () => this.onClosed());
    socket.on('error', () => this.onClosed());
    socket.on('pong', () => (this.awaitingPong = false));
  }

  /**
   * The server's keep-alive (DESIGN.md §4): a client that did not answer the last ping is dropped,
   * unless `judge` is false (the server itself was too busy to read the answers in time).
   */
  ping(judge = true): void {
    if (this.closed) return;
    if (this.awaitingPong && judge) {
      this.socket.terminate();
      this.onClosed();
      return;
    }
    this.awaitingPong = true;
    this.socket.ping();
  }

  get viewerId(): string {
    if (this.userId === null) throw new Error('connection is not acknowledged');
    return this.userId;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** The acknowledged user, or null before the acknowledgement. */
  get acknowledgedUser(): string | null {
    return this.userId;
  }

  send(frame: string | Buffer): void {
    if (this.closed) return;
    if (this.stream) this.handlers.coalescer?.hold(this.stream);
    this.socket.send(frame, TEXT_FRAME);
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) this.cutOff();
  }

  sendError(id: string, errors: ClientError[]): void {
    this.send(JSON.stringify({ id, type: MessageType.Error, payload: errors }));
  }

  sendComplete(id: string): void {
    this.send(JSON.stringify({ id, type: MessageType.Complete }));
  }

  /**
   * Paced senders (history, held frames) keep the buffer below a quarter of its bound, so live frames
   * of other subscriptions always have room and a client that keeps reading is never cut off.
   */
  writable(): Promise<void> | null {
    return this.closed || this.socket.bufferedAmount <= this.lowWater ? null : this.drained();
  }

  release(subscription: Subscription): void {
    if (this.subscriptions.get(subscription.id) !== subscription) return;
    this.subscriptions.delete(subscription.id);
    // Ended by the server while its start still runs (removed from the chat during a replay): the
    // client has the error and may reuse the id at once.
    this.cancelStart(subscription.id);
  }

  /** Resolves once the socket has sent most of what it holds (or closed), polling its buffer. */
  private async drained(): Promise<void> {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (!this.closed && this.socket.bufferedAmount > this.lowWater) {
      if (Date.now() > deadline) return this.cutOff();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private get lowWater(): number {
    return this.limits.maxBufferedBytes / 4;
  }

  /** A subscription that replays too long while live messages pile up is as slow as a client that does not read. */
  checkPending(subscription: Subscription): void {
    if ((subscription.pending?.length ?? 0) > this.limits.maxPendingMessages) this.cutOff();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    try {
      // Behind whatever this turn already wrote: the close frame is held with it, in order.
      if (this.stream) this.handlers.coalescer?.hold(this.stream);
      this.socket.close(code, truncate(reason));
    } catch {
      this.socket.terminate();
    }
    this.onClosed();
  }

  /** The client stopped reading: stop holding frames for it and let it resume with its last cursor. */
  private cutOff(): void {
    if (this.closed) return;
    this.handlers.slowConsumer(this);
    this.close(SLOW_CONSUMER_CLOSE_CODE, 'Slow consumer: send buffer full; reconnect and resume with your last cursor');
    // The close frame queues behind the unread data; a client that does not read never takes it.
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }

  private async onMessage(data: string): Promise<void> {
    let message;
    try {
      message = parseMessage(data);
    } catch (error) {
      this.close(CloseCode.BadRequest, truncate(error instanceof Error ? error.message : 'Invalid message received'));
      return;
    }
    switch (message.type) {
      case MessageType.ConnectionInit:
        return this.onInit(message.payload as Record<string, unknown> | undefined);
      case MessageType.Ping:
        // Echoed, as graphql-ws's own server does: a client may match its pings to the answers.
        this.send(JSON.stringify(message.payload ? { type: MessageType.Pong, payload: message.payload } : { type: MessageType.Pong }));
        return;
      case MessageType.Pong:
        return;
      case MessageType.Subscribe:
        if (this.userId === null) return this.close(CloseCode.Unauthorized, 'Unauthorized');
        if (this.subscriptions.has(message.id) || this.starts?.has(message.id)) {
          return this.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${message.id} already exists`);
        }
        if (!this.takeToken()) {
          return this.sendError(message.id, [{ message: 'too many operations on this connection; slow down', extensions: { code: 'RATE_LIMITED' } }]);
        }
        if (this.subscriptions.size + this.running >= this.limits.maxSubscriptions) {
          return this.sendError(message.id, [
            { message: `at most ${this.limits.maxSubscriptions} subscriptions per connection`, extensions: { code: 'RATE_LIMITED' } },
          ]);
        }
        return this.handleStart(message);
      case MessageType.Complete: {
        this.cancelStart(message.id);
        const subscription = this.subscriptions.get(message.id);
        if (subscription) {
          this.subscriptions.delete(message.id);
          this.handlers.unsubscribe(subscription);
        }
        return;
      }
      default:
        return this.close(CloseCode.BadRequest, `Unexpected message of type ${message.type} received`);
    }
  }

  private async handleStart(message: SubscribeMessage): Promise<void> {
    const start = new OperationStart(message.id);
    (this.starts ??= new Map()).set(message.id, start);
    this.running++;
    try {
      return await this.handlers.subscribe(this, message, start);
    } finally {
      this.running--;
      // Unless the id was completed meanwhile and now belongs to a newer start.
      if (this.starts?.get(message.id) === start) this.starts.delete(message.id);
      if (this.starts?.size === 0) this.starts = null;
    }
  }

  private cancelStart(id: string): void {
    const start = this.starts?.get(id);
    if (!start) return;
    start.cancel();
    this.starts!.delete(id);
  }

  private async onInit(payload: Record<string, unknown> | undefined): Promise<void> {
    if (this.initReceived) return this.close(CloseCode.TooManyInitialisationRequests, 'Too many initialisation requests');
    this.initReceived = true;
    const token = await this.handlers.authenticate(this, payload);
    clearTimeout(this.initTimer);
    this.initTimer = undefined;
    if (token === null) return this.close(CloseCode.Unauthorized, 'Unauthorized: connectionParams.authorization must be "Bearer <valid token>"');
    if (this.closed) return;
    if (!this.handlers.admit(this, token.userId)) {
      return this.close(TOO_MANY_CONNECTIONS_CLOSE_CODE, 'Too many connections for this user here; close one or try again later');
    }
    this.userId = token.userId;
    this.closeAtExpiry(token.expiresAt);
    this.send(JSON.stringify({ type: MessageType.ConnectionAck }));
  }

  /** DESIGN.md §5: a socket lives no longer than its token; the client reconnects with a fresh one and resumes. */
  private closeAtExpiry(expiresAt: number): void {
    if (this.closed) return;
    const remaining = expiresAt - Date.now();
    this.expiryTimer = setTimeout(() => {
      if (remaining > MAX_TIMER_DELAY_MS) return this.closeAtExpiry(expiresAt);
      // 4403, not 4401: graphql-ws (and Apollo and urql on it) give up after 4401 but retry 4403, with a fresh
      // token from their connectionParams function.
      this.close(CloseCode.Forbidden, 'Forbidden: token expired; reconnect with a fresh token and resume');
    }, Math.max(0, Math.min(remaining, MAX_TIMER_DELAY_MS)));
    this.expiryTimer.unref();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.initTimer);
    clearTimeout(this.expiryTimer);
    this.handlers.closed(this);
  }

  private takeToken(): boolean {
    return this.operations.take();
  }
}

/** `ws` sends a Buffer as a binary frame unless told otherwise; every frame here is graphql-ws JSON text. */
const TEXT_FRAME = { binary: false } as const;

/** WebSocket close reasons are limited to 123 bytes of UTF-8; a longer one makes `close` throw. */
function truncate(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let cut = reason;
  while (Buffer.byteLength(`${cut}…`) > 123) cut = cut.slice(0, -1);
  return `${cut}…`;
}
