/**
 * Typing indicators (DESIGN.md §10): ephemeral, at most once, never stored.
 *
 * - An `isTyping: true` lapses this long after the last one unless renewed.
 * - However often a client calls, at most one `isTyping: true` per (chat, user) goes out per throttle
 *   window across the whole cluster; `isTyping: false` is never held back.
 */
export const TYPING_LAPSE_MS = 6_000;
export const TYPING_THROTTLE_MS = 2_000;

/** One typing state as a receiver hears it: `at` is when the typist's call was taken (ms since the epoch). */
export interface TypingSignal {
  chatId: string;
  userId: string;
  isTyping: boolean;
  at: number;
}

/** What a receiver sends to the other participants watching the chat. */
export interface TypingFrame {
  chatId: string;
  userId: string;
  isTyping: boolean;
}
