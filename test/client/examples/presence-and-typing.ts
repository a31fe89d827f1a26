import { ParleyClient } from '@parley/client';

/** Call on every change of the message box's text. */
export function messageBoxChanged(parley: ParleyClient, chatId: string, text: string) {
  if (text.trim() === '') parley.stopTyping(chatId); // cleared: isTyping false, at once
  else parley.typing(chatId); // isTyping true, at most every 2 s however fast the keys come
}

export function messageSent(parley: ParleyClient, chatId: string) {
  parley.stopTyping(chatId);
}

export function watchChat(parley: ParleyClient, chatId: string, others: string[], show: {
  typing(text: string): void;
  presence(userId: string, online: boolean, lastSeenAt: string | null): void;
}) {
  const typing = parley.typingIndicator(chatId); // typists leave on isTyping false, or 6 s after their last true
  typing.onChange((typists) => show.typing(
    typists.length === 0 ? '' : `${typists.join(', ')} ${typists.length === 1 ? 'is' : 'are'} typing…`));
  const presence = parley.presence(others); // loaded now and after every reconnect, then moved by presenceChanged
  presence.onChange((userId, now) => show.presence(userId, now?.online ?? false, now?.lastSeenAt ?? null));
  return () => {
    typing.close();
    presence.close();
  };
}
