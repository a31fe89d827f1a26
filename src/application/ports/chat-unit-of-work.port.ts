import type { ChatCommand, ChatEvent, DecisionState } from '../../domain';
import type { ChatView } from './chat-read-model.port';

/** An event as stored: its place in the global order (`cursor`) and in its chat's stream (`version`). */
export interface RecordedEvent {
  eventId: string;
  chatId: string;
  version: number;
  cursor: string;
  occurredAt: string;
  event: ChatEvent;
}

/** What became of one command: the events it recorded (none for a retry or a no-op) and the state it was decided on. */
export interface ChatCommandOutcome {
  recorded: RecordedEvent[];
  state: DecisionState;
  /**
   * For CreateChat and UpdateChat: the chat as this command left it, seen by its user and read in
   * the command's own transaction (null when it no longer exists). A read after the commit could show
   * a later change, such as a message posted after the user removed themselves.
   */
  chat?: ChatView | null;
}

/**
 * Runs chat commands (DESIGN.md §2): loads what each decision needs (`decisionNeeds`), calls `decide`,
 * and appends the events with their outbox rows and read-model changes in one transaction, retrying
 * on a version conflict. Commands that arrive together may share that transaction (group commit),
 * but each keeps its own outcome: a rule one breaks rejects it alone, and nothing is answered before
 * the commit. `decide` must be pure: it may run more than once.
 */
export abstract class ChatUnitOfWork {
  abstract execute(command: ChatCommand, decide: (state: DecisionState) => ChatEvent[]): Promise<ChatCommandOutcome>;
}
