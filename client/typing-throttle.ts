/**
 * How often a typist renews `isTyping: true` (DESIGN.md §10): the server lets out at most one such
 * frame per chat and user every 2 s, and lapses it 6 s after the last, so renewing every 2 s keeps
 * the others' indicator on with two renewals to spare, and sending more often would be dropped anyway.
 */
export const TYPING_RENEW_MS = 2_000;

/** Sends `setTyping(chatId, isTyping)`; a rejection is reported, never retried (the next keystroke renews). */
export type SendTyping = (chatId: string, isTyping: boolean) => Promise<unknown>;

interface ChatTyping {
  /** When `isTyping: true` last went out; null when nothing has said "typing" since the last stop. */
  sentAt: number | null;
  /** The next value to send once the one in flight has been answered; the latest wins. */
  queued: boolean | null;
  sending: boolean;
}

/**
 * `typing(chatId)` on every keystroke sends `true` at most every `intervalMs`; `stopTyping(chatId)`
 * sends `false` at once and starts the throttle over. Per chat, one request is in flight at a time and
 * the next waits for its answer: two HTTP requests may reach two senders and land in either order,
 * and a `false` overtaken by the `true` before it would leave the others seeing "typing" until it lapses.
 */
export class TypingThrottle {
  private readonly chats = new Map<string, ChatTyping>();

  constructor(
    private readonly send: SendTyping,
    private readonly now: () => number,
    private readonly report: (error: unknown) => void,
    private readonly intervalMs = TYPING_RENEW_MS,
  ) {}

  typing(chatId: string): void {
    const chat = this.chat(chatId);
    const now = this.now();
    if (chat.sentAt !== null && now - chat.sentAt < this.intervalMs) return;
    chat.sentAt = now;
    this.enqueue(chatId, chat, true);
  }

  /** Nothing to send unless a `true` went out since the last stop: the others see nobody typing already. */
  stopTyping(chatId: string): void {
    const chat = this.chats.get(chatId);
    if (!chat || chat.sentAt === null) return;
    chat.sentAt = null;
    this.enqueue(chatId, chat, false);
  }

  private chat(chatId: string): ChatTyping {
    let chat = this.chats.get(chatId);
    if (!chat) this.chats.set(chatId, (chat = { sentAt: null, queued: null, sending: false }));
    return chat;
  }

  private enqueue(chatId: string, chat: ChatTyping, isTyping: boolean): void {
    chat.queued = isTyping;
    if (!chat.sending) void this.drain(chatId, chat);
  }

  private async drain(chatId: string, chat: ChatTyping): Promise<void> {
    chat.sending = true;
    while (chat.queued !== null) {
      const isTyping = chat.queued;
      chat.queued = null;
      try {
        await this.send(chatId, isTyping);
      } catch (error) {
        this.report(error);
      }
    }
    chat.sending = false;
  }
}
