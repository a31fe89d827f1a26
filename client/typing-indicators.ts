import type { ParleyError } from './errors';
import type { LiveSubscription, LiveSubscriptionHandlers, LiveSubscriptionRequest } from './live-subscription';

/**
 * The server lapses an `isTyping: true` 6 s after the last one and says so with an `isTyping: false`
 * (DESIGN.md §10). The same lapse here covers that `false` getting lost: frames are at most once.
 */
export const TYPING_LAPSE_MS = 6_000;

export const TYPING_INDICATOR = 'subscription($chatId: ID!) { typingIndicator(chatId: $chatId) { chatId userId isTyping } }';

interface TypingFrame {
  chatId: string;
  userId: string;
  isTyping: boolean;
}

/** What typing indicators need of the client: `ParleyClient` is one. */
export interface TypingSource {
  subscribeLive<T>(request: LiveSubscriptionRequest, handlers: LiveSubscriptionHandlers<T>): LiveSubscription;
}

export interface TypingTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface TypingIndicatorOptions {
  /** How long a `true` holds without renewal (ms); 6 000, as the server's. */
  lapseMs?: number;
  /** The server ended the subscription (FORBIDDEN: no longer in the chat). */
  error?(error: ParleyError): void;
}

/**
 * Who is typing in one chat, from `typingIndicator(chatId)`: a user is in from their `isTyping: true`
 * until their `isTyping: false`, or until `lapseMs` pass without a renewal, or until the connection is
 * lost (a `false` sent meanwhile would never arrive). Users are listed in the order they started.
 */
export class TypingIndicators {
  private readonly lapses = new Map<string, unknown>();
  private readonly listeners = new Set<(typists: readonly string[]) => void>();
  private readonly subscription: LiveSubscription;
  private readonly lapseMs: number;
  private closed = false;

  constructor(source: TypingSource, readonly chatId: string, private readonly timers: TypingTimers, options: TypingIndicatorOptions = {}, private readonly report: (error: unknown) => void = () => undefined) {
    this.lapseMs = options.lapseMs ?? TYPING_LAPSE_MS;
    this.subscription = source.subscribeLive<TypingFrame>(
      { query: TYPING_INDICATOR, variables: { chatId } },
      {
        next: (frame) => (frame.isTyping ? this.started(frame.userId) : this.stopped(frame.userId)),
        stopped: () => this.clear(),
        error: (error) => {
          this.clear();
          options.error?.(error);
        },
      },
    );
  }

  /** The users typing now, in the order they started. */
  get typists(): readonly string[] {
    return [...this.lapses.keys()];
  }

  /** Calls `listener` with the typists whenever they change; answers a function that stops it. */
  onChange(listener: (typists: readonly string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscription.unsubscribe();
    for (const handle of this.lapses.values()) this.timers.clearTimeout(handle);
    this.lapses.clear();
    this.listeners.clear();
  }

  private started(userId: string): void {
    const renewal = this.lapses.has(userId);
    if (renewal) this.timers.clearTimeout(this.lapses.get(userId));
    this.lapses.set(userId, this.timers.setTimeout(() => this.stopped(userId), this.lapseMs));
    if (!renewal) this.changed();
  }

  private stopped(userId: string): void {
    if (!this.lapses.has(userId)) return;
    this.timers.clearTimeout(this.lapses.get(userId));
    this.lapses.delete(userId);
    this.changed();
  }

  private clear(): void {
    if (this.lapses.size === 0) return;
    for (const handle of this.lapses.values()) this.timers.clearTimeout(handle);
    this.lapses.clear();
    this.changed();
  }

  private changed(): void {
    const typists = this.typists;
    for (const listener of [...this.listeners]) {
      try {
        listener(typists);
      } catch (error) {
        this.report(error);
      }
    }
  }
}
