/**
 * Facts about a chat, in the past tense. Every event is plain serialisable data with a string `type`,
 * so events can be stored, relayed and upcast without depending on class names.
 * Times are ISO-8601 strings supplied by the command (the domain never reads a clock).
 */
export type ChatEvent =
  | ChatCreated
  | ChatRenamed
  | ParticipantsAdded
  | ParticipantsRemoved
  | MessagePosted
  | MessageEdited
  | MessageDeleted
  | MessageRead;

export type ChatEventType = ChatEvent['type'];

export interface ChatCreated {
  type: 'ChatCreated';
  data: { chatId: string; name: string; participantIds: string[]; createdBy: string; createdAt: string };
}

export interface ChatRenamed {
  type: 'ChatRenamed';
  data: { chatId: string; name: string; renamedBy: string; renamedAt: string };
}

export interface ParticipantsAdded {
  type: 'ParticipantsAdded';
  data: { chatId: string; userIds: string[]; addedBy: string; addedAt: string };
}

export interface ParticipantsRemoved {
  type: 'ParticipantsRemoved';
  data: { chatId: string; userIds: string[]; removedBy: string; removedAt: string };
}

export interface MessagePosted {
  type: 'MessagePosted';
  data: {
    chatId: string;
    messageId: string;
    senderId: string;
    content: string;
    seq: number;
    clientMessageId: string | null;
    postedAt: string;
  };
}

export interface MessageEdited {
  type: 'MessageEdited';
  /** Carries `postedAt` so that subscribers get the whole edited message from the event alone. */
  data: {
    chatId: string;
    messageId: string;
    senderId: string;
    seq: number;
    content: string;
    postedAt: string;
    editedAt: string;
  };
}

export interface MessageDeleted {
  type: 'MessageDeleted';
  data: { chatId: string; messageId: string; senderId: string; seq: number; deletedAt: string };
}

/** A participant's read mark moved forward to `seq` (the message they marked as read). */
export interface MessageRead {
  type: 'MessageRead';
  data: { chatId: string; messageId: string; userId: string; seq: number; readAt: string };
}

/** Events that concern one message, as opposed to the chat as a whole. */
export type MessageEvent = MessagePosted | MessageEdited | MessageDeleted | MessageRead;

export function isMessageEvent(event: ChatEvent): event is MessageEvent {
  return (
    event.type === 'MessagePosted' ||
    event.type === 'MessageEdited' ||
    event.type === 'MessageDeleted' ||
    event.type === 'MessageRead'
  );
}

/** Events that change who is in the chat (its creation included). */
export function isMembershipEvent(event: ChatEvent): boolean {
  return event.type === 'ChatCreated' || event.type === 'ParticipantsAdded' || event.type === 'ParticipantsRemoved';
}
