import { CHAT_LIMITS } from './chat-limits';
import { isStorableText, sizeProblem } from './text';

const UNSTORABLE = 'must not contain NUL characters or unpaired surrogates';

/**
 * Why a user id breaks the rules of DESIGN.md §5, or null when it keeps them: storable, no leading or
 * trailing white space, 1..128 characters and at most 512 bytes of UTF-8. Participant ids, the
 * token's `sub` and development sign-in all ask this, so that an id is counted one way everywhere and
 * every user who can sign in can be added to a chat.
 */
export function userIdProblem(id: string): string | null {
  if (!isStorableText(id)) return UNSTORABLE;
  if (id !== id.trim()) return 'must not start or end with white space';
  return sizeProblem(id, CHAT_LIMITS.userIdMaxChars, CHAT_LIMITS.userIdMaxBytes);
}

/** Why a clientMessageId breaks the rules of DESIGN.md §5 (1..128 characters, at most 512 bytes), or null. */
export function clientMessageIdProblem(id: string): string | null {
  if (!isStorableText(id)) return UNSTORABLE;
  return sizeProblem(id, CHAT_LIMITS.clientMessageIdMaxChars, CHAT_LIMITS.clientMessageIdMaxBytes);
}
