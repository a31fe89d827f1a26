import { typingMessage, type RelayedRecord } from '../../application';
import { TypingBoard, type TypingFrame, type TypingSignal } from '../../domain';
import type { SubscriptionRouter } from './subscription-router';

export interface TypingRelayOptions {
  router: SubscriptionRouter;
  /** The receiver's clock, in ms (injectable, so a test can make 6 s pass without waiting for them). */
  now(): number;
  /** How often lapses are looked for while anyone is typing (250 ms). */
  checkEveryMs?: number;
}

/**
 * Typing frames for this receiver's `typingIndicator` subscribers (DESIGN.md §10): signals heard on a
 * followed chat go out as they come, a typist's post ends their typing (the `isTyping: false` goes out
 * right behind the post), and a typist not renewed lapses. Everything goes through the router's queue,
 * behind the rows handed to it before, so a post is seen before the end of its author's typing.
 */
export class TypingRelay {
  private readonly board = new TypingBoard();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: TypingRelayOptions) {}

  heard(signal: TypingSignal): Promise<void> {
    const frame = this.board.heard(signal, this.options.now());
    this.keepChecking();
    return frame ? this.send([frame]) : Promise.resolve();
  }

  /** A row handed to the router: if it posts in a chat watched for typing here, its sender stops typing. */
  follow(record: Pick<RelayedRecord, 'chatId' | 'messages'>): void {
    const { router } = this.options;
    // Most rows are of chats nobody here watches for typing: they cost one lookup, and are not unpacked.
    if (!router.hasSubscribers('typingIndicator', record.chatId)) return;
    for (const message of record.messages) {
      if (message.channel !== 'messageAdded') continue;
      const at = Date.parse(message.meta.occurredAt);
      const frame = this.board.posted(message.meta.chatId, String(message.payload.senderId), Number.isNaN(at) ? this.options.now() : at);
      this.keepChecking();
      if (frame) void this.send([frame]);
    }
  }

  /** Looks for lapsed typists now (the timer calls it; a test with its own clock may too). */
  checkLapses(): Promise<void> {
    const frames = this.board.lapse(this.options.now());
    if (this.board.isEmpty && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    return frames.length > 0 ? this.send(frames) : Promise.resolve();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private keepChecking(): void {
    if (this.timer || this.board.isEmpty) return;
    this.timer = setInterval(() => void this.checkLapses(), this.options.checkEveryMs ?? 250);
    this.timer.unref();
  }

  private send(frames: TypingFrame[]): Promise<void> {
    return this.options.router.deliverLocal(frames.map(typingMessage));
  }
}
