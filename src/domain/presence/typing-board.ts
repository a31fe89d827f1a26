import { TYPING_LAPSE_MS, type TypingFrame, type TypingSignal } from './typing-rules';

/**
 * Who is typing where, as one receiver delivers it (DESIGN.md §10). Pure: every call is told the time.
 *
 * - A signal starts or renews a typist (`isTyping: true`) or ends one (`false`).
 * - A post by the typist ends their typing: the receiver delivering the post sends `isTyping: false`
 *   itself, and from then on ignores that typist's signals taken before the post (they travel apart
 *   from the post and may arrive after it).
 * - A typist not renewed within the lapse ends too.
 */
export class TypingBoard {
  /** (chat, user) → when their typing lapses. */
  private readonly typing = new Map<string, number>();
  /** (chat, user) → when their last post was taken: signals taken at or before it are stale. */
  private readonly postedAt = new Map<string, number>();

  /** Whether anything is remembered: the caller's timer (`lapse`) runs only while something is. */
  get isEmpty(): boolean {
    return this.typing.size === 0 && this.postedAt.size === 0;
  }

  /** The frame to send for a signal heard now, or null when it is stale. */
  heard(signal: TypingSignal, now: number): TypingFrame | null {
    const key = keyOf(signal.chatId, signal.userId);
    if (signal.at <= (this.postedAt.get(key) ?? -Infinity)) return null;
    if (signal.isTyping) this.typing.set(key, now + TYPING_LAPSE_MS);
    else this.typing.delete(key);
    return frame(signal.chatId, signal.userId, signal.isTyping);
  }

  /** The typist posted (the post taken at `at`): their typing ends, with a frame if they were typing. */
  posted(chatId: string, userId: string, at: number): TypingFrame | null {
    const key = keyOf(chatId, userId);
    this.postedAt.set(key, Math.max(at, this.postedAt.get(key) ?? -Infinity));
    return this.typing.delete(key) ? frame(chatId, userId, false) : null;
  }

  /** Typists not renewed within the lapse: each ends with a frame. */
  lapse(now: number): TypingFrame[] {
    const ended: TypingFrame[] = [];
    for (const [key, until] of this.typing) {
      if (until > now) continue;
      this.typing.delete(key);
      const [chatId, userId] = splitKey(key);
      ended.push(frame(chatId, userId, false));
    }
    this.forgetPostsBefore(now - TYPING_LAPSE_MS);
    return ended;
  }

  /** A signal taken this long before a post would have lapsed by now anyway: the post need not be remembered. */
  private forgetPostsBefore(horizon: number): void {
    for (const [key, at] of this.postedAt) if (at < horizon) this.postedAt.delete(key);
  }
}

/** Chat ids are UUIDs: the first newline separates the parts whatever the user id holds. */
function keyOf(chatId: string, userId: string): string {
  return `${chatId}\n${userId}`;
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf('\n');
  return [key.slice(0, at), key.slice(at + 1)];
}

function frame(chatId: string, userId: string, isTyping: boolean): TypingFrame {
  return { chatId, userId, isTyping };
}
