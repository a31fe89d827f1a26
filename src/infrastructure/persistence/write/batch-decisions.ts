import type { ChatCommandOutcome } from '../../../application';
import {
  evolveChat,
  evolveMessage,
  isMessageEvent,
  type ChatCommand,
  type ChatEvent,
  type DecisionState,
} from '../../../domain';
import { canonicalId } from '../uuid';
import { previousPostKey, type LoadedStream } from './stream-load';
import type { PendingEvent } from './stream-append';

export interface BatchEntry {
  command: ChatCommand;
  decide(state: DecisionState): ChatEvent[];
}

export type Decision =
  | { ok: true; state: DecisionState; events: PendingEvent[] }
  | { ok: false; error: unknown };

/**
 * Decides a batch's commands in the order they arrived, each on the state its chat is in after the
 * commands before it: a second post gets the next `seq`, a repeated clientMessageId finds the post
 * the first one made in this very batch. A command whose decision fails (a broken rule) is left out;
 * the others go on as if it had never come.
 */
export function decideBatch(entries: BatchEntry[], streams: Map<string, LoadedStream>, newEventId: () => string): Decision[] {
  return entries.map((entry) => {
    const stream = streams.get(canonicalId(entry.command.chatId))!;
    const state = decisionState(entry.command, stream);
    let events: ChatEvent[];
    try {
      events = entry.decide(state);
    } catch (error) {
      return { ok: false, error };
    }
    const finalChat = events.reduce(evolveChat, stream.state);
    const pending = events.map((event): PendingEvent => {
      stream.state = evolveChat(stream.state, event);
      stream.version += 1;
      follow(stream, event);
      return {
        eventId: newEventId(),
        chatId: stream.chatId,
        version: stream.version,
        occurredAt: occurrenceTime(event),
        event,
        // Chat-level messages show the chat as the whole command left it; message-level ones need only the event.
        chat: isMessageEvent(event) ? stream.state : finalChat,
      };
    });
    return { ok: true, state, events: pending };
  });
}

/** The outcome a decided command is answered with, once its events have cursors. */
export function outcomeOf(decision: Extract<Decision, { ok: true }>, cursors: Map<string, string>): ChatCommandOutcome {
  return {
    state: decision.state,
    recorded: decision.events.map((pending) => ({
      eventId: pending.eventId,
      chatId: pending.chatId,
      version: pending.version,
      cursor: cursors.get(pending.eventId)!,
      occurredAt: pending.occurredAt,
      event: pending.event,
    })),
  };
}

function decisionState(command: ChatCommand, stream: LoadedStream): DecisionState {
  switch (command.type) {
    case 'PostMessage': {
      const key = command.clientMessageId ? previousPostKey(command.userId, command.clientMessageId) : null;
      return { chat: stream.state, previousPost: key ? (stream.previousPosts.get(key) ?? null) : null };
    }
    case 'EditMessage':
    case 'DeleteMessage':
    case 'MarkMessageRead':
      return { chat: stream.state, message: stream.messages.get(canonicalId(command.messageId)) ?? null };
    case 'CreateChat':
    case 'UpdateChat':
      return { chat: stream.state };
  }
}

/** Keeps the batch's view of messages current, so later commands of the batch decide on it. */
function follow(stream: LoadedStream, event: ChatEvent): void {
  if (!isMessageEvent(event)) return;
  const { messageId } = event.data;
  const message = evolveMessage(stream.messages.get(messageId) ?? null, event);
  if (message) stream.messages.set(messageId, message);
  if (event.type === 'MessagePosted' && message?.clientMessageId) {
    stream.previousPosts.set(previousPostKey(message.senderId, message.clientMessageId), message);
  }
}

/** Every event carries the time its command was issued; this picks it out for the indexed column. */
export function occurrenceTime(event: ChatEvent): string {
  switch (event.type) {
    case 'ChatCreated':
      return event.data.createdAt;
    case 'ChatRenamed':
      return event.data.renamedAt;
    case 'ParticipantsAdded':
      return event.data.addedAt;
    case 'ParticipantsRemoved':
      return event.data.removedAt;
    case 'MessagePosted':
      return event.data.postedAt;
    case 'MessageEdited':
      return event.data.editedAt;
    case 'MessageDeleted':
      return event.data.deletedAt;
    case 'MessageRead':
      return event.data.readAt;
  }
}
