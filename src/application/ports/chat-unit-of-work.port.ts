import type { ChatEvent, ChatState, MessageState } from '../../domain';

/** An event as stored: its place in the global order (`cursor`) and in its chat's stream (`version`). */
export interface RecordedEvent {
  eventId: string;
  chatId: string;
  version: number;
  cursor: string;
  occurredAt: string;
  event: ChatEvent;
}

/** The view of one chat inside a unit of work. The chat stays locked until the work ends. */
export interface ChatSession {
  loadChat(): Promise<ChatState>;
  loadMessage(messageId: string): Promise<MessageState | null>;
  findPost(senderId: string, clientMessageId: string): Promise<MessageState | null>;
  /** Appends after the version `loadChat` saw, with one outbox row per event, in the same transaction. */
  append(events: ChatEvent[]): Promise<RecordedEvent[]>;
}

/**
 * Runs `work` in one transaction against one chat. Owns the transaction, the outbox rows, the read models
 * written with the events, and the retry on a version conflict, so handlers only load, decide and append.
 * `work` may run more than once and must not have effects of its own outside the session.
 */
export abstract class ChatUnitOfWork {
  abstract run<T>(chatId: string, work: (session: ChatSession) => Promise<T>): Promise<T>;
}
