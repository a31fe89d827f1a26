import type { TypingFrame } from '../../domain';
import type { PresenceSignal } from '../ports';
import type { ChannelMessage } from './channels';

/**
 * The channel messages a receiver makes from ephemeral signals (DESIGN.md §10), routed like any other
 * but with no cursor: at most once, never resumed.
 */
export function typingMessage(frame: TypingFrame): ChannelMessage {
  return {
    channel: 'typingIndicator',
    payload: { chatId: frame.chatId, userId: frame.userId, isTyping: frame.isTyping },
    meta: { eventId: '', cursor: '', chatId: frame.chatId, occurredAt: '' },
  };
}

/** For `viewers`, the local users who share a chat with the subject. */
export function presenceMessage(signal: PresenceSignal, viewers: string[]): ChannelMessage {
  return {
    channel: 'presenceChanged',
    payload: { userId: signal.userId, online: signal.online, lastSeenAt: signal.lastSeenAt },
    meta: { eventId: '', cursor: '', chatId: '', occurredAt: '', userIds: viewers, version: signal.version },
  };
}
