/**
 * What a user asks of a chat. `userId` is the authenticated caller; `at` is the time the application
 * took from its clock, and new ids come in the command too, so `decide` stays deterministic.
 */
export type ChatCommand =
  | CreateChat
  | UpdateChat
  | PostMessage
  | EditMessage
  | DeleteMessage
  | MarkMessageRead;

export interface CreateChat {
  type: 'CreateChat';
  chatId: string;
  userId: string;
  name: string;
  participantIds: string[];
  at: string;
}

export interface UpdateChat {
  type: 'UpdateChat';
  chatId: string;
  userId: string;
  name?: string | null;
  addParticipantIds?: string[] | null;
  removeParticipantIds?: string[] | null;
  at: string;
}

export interface PostMessage {
  type: 'PostMessage';
  chatId: string;
  userId: string;
  messageId: string;
  content: string;
  clientMessageId?: string | null;
  at: string;
}

export interface EditMessage {
  type: 'EditMessage';
  chatId: string;
  userId: string;
  messageId: string;
  content: string;
  at: string;
}

export interface DeleteMessage {
  type: 'DeleteMessage';
  chatId: string;
  userId: string;
  messageId: string;
  at: string;
}

export interface MarkMessageRead {
  type: 'MarkMessageRead';
  chatId: string;
  userId: string;
  messageId: string;
  at: string;
}
