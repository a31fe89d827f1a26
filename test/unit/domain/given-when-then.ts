/**
 * Given-when-then for the chat aggregate (STYLE.md item 7):
 *
 *   given(pastEvents).when(command).then(expectedEvents)
 *   given(pastEvents).when(command).thenThrows(NamedRule, 'CODE')
 *
 * `given` folds the chat's past events with `evolveChat` from `initialChatState(command.chatId)`.
 * The message a command is about is folded with `evolveMessage`, the way the application would load it:
 * - explicit `messageEvents` win (pass `[]` for "no such message", or another chat's events);
 * - otherwise Edit/Delete/MarkRead get the message named by `command.messageId` from the past events,
 *   and PostMessage gets, as `previousPost`, this sender's earlier post with the same clientMessageId.
 * States and command are deep-frozen, so a `decide` that mutates its input fails loudly.
 */
import {
  decide,
  evolveChat,
  evolveMessage,
  initialChatState,
  isMessageEvent,
  type ChatCommand,
  type ChatEvent,
  type ChatState,
  type DecisionState,
  type DomainError,
  type DomainErrorCode,
  type MessageState,
} from '../../../src/domain';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type DomainErrorClass = new (...args: any[]) => DomainError;

export interface Then {
  /** The command produces exactly these events, in this order. */
  then(expected: ChatEvent[]): void;
  /** The command is accepted but changes nothing (an idempotent retry or a no-op). */
  thenNothing(): void;
  /** The command breaks the named rule: asserts the error class and its stable `code`, never the text. */
  thenThrows(errorClass: DomainErrorClass, code: DomainErrorCode): void;
}

export interface When {
  when(command: ChatCommand): Then;
}

export function given(events: ChatEvent[], messageEvents?: ChatEvent[]): When {
  return {
    when(command: ChatCommand): Then {
      const state = deepFreeze(decisionState(command, events, messageEvents));
      const frozenCommand = deepFreeze(structuredClone(command));
      const act = (): ChatEvent[] => decide(frozenCommand, state);
      return {
        then(expected: ChatEvent[]): void {
          expect(act()).toStrictEqual(expected);
        },
        thenNothing(): void {
          expect(act()).toStrictEqual([]);
        },
        thenThrows(errorClass: DomainErrorClass, code: DomainErrorCode): void {
          expect(act).toThrow(errorClass);
          let thrown: unknown;
          try {
            act();
          } catch (error) {
            thrown = error;
          }
          expect(thrown).toHaveProperty('code', code);
        },
      };
    },
  };
}

/** The chat state after these events, as `decide` would see it. */
export function chatStateAfter(chatId: string, events: ChatEvent[]): ChatState {
  return events.reduce(evolveChat, initialChatState(chatId));
}

/** The message state after these events (null when none of them posted it). */
export function messageStateAfter(events: ChatEvent[]): MessageState | null {
  return events.reduce<MessageState | null>(evolveMessage, null);
}

function decisionState(command: ChatCommand, events: ChatEvent[], messageEvents?: ChatEvent[]): DecisionState {
  const chat = chatStateAfter(command.chatId, events);
  const explicit = messageEvents === undefined ? undefined : messageStateAfter(messageEvents);
  switch (command.type) {
    case 'CreateChat':
    case 'UpdateChat':
      return { chat };
    case 'PostMessage': {
      if (explicit !== undefined) return { chat, previousPost: explicit };
      const earlier = events.find(
        (event) =>
          event.type === 'MessagePosted' &&
          command.clientMessageId != null &&
          event.data.chatId === command.chatId &&
          event.data.senderId === command.userId &&
          event.data.clientMessageId === command.clientMessageId,
      );
      return { chat, previousPost: earlier ? eventsOfMessage(events, messageIdOf(earlier)) : null };
    }
    case 'EditMessage':
    case 'DeleteMessage':
    case 'MarkMessageRead':
      return { chat, message: explicit !== undefined ? explicit : eventsOfMessage(events, command.messageId) };
  }
}

function eventsOfMessage(events: ChatEvent[], messageId: string): MessageState | null {
  return messageStateAfter(events.filter((event) => isMessageEvent(event) && event.data.messageId === messageId));
}

function messageIdOf(event: ChatEvent): string {
  return isMessageEvent(event) ? event.data.messageId : '';
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
