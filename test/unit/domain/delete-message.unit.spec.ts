import { ChatNotFound, MessageNotFound, NotAParticipant, NotTheSender } from '../../../src/domain';
import {
  ALICE,
  BOB,
  CAROL,
  MALLORY,
  OTHER_CHAT,
  at,
  chatCreated,
  deleteMessage,
  messageDeleted,
  messageEdited,
  messagePosted,
  participantsRemoved,
} from './fixtures';
import { given } from './given-when-then';

/** BOB posted m-1 (seq 1) and CAROL posted m-2 (seq 2) in ALICE's chat. */
const chatWithMessages = [
  chatCreated(),
  messagePosted({ messageId: 'm-1', senderId: BOB, seq: 1 }),
  messagePosted({ messageId: 'm-2', senderId: CAROL, seq: 2 }),
];

describe('DeleteMessage', () => {
  it('emits MessageDeleted when the sender deletes', () => {
    given(chatWithMessages)
      .when(deleteMessage({ userId: BOB, messageId: 'm-1', at: at(6) }))
      .then([
        {
          type: 'MessageDeleted',
          data: { chatId: 'chat-1', messageId: 'm-1', senderId: BOB, seq: 1, deletedAt: at(6) },
        },
      ]);
  });

  it('carries the seq of the deleted message', () => {
    given(chatWithMessages)
      .when(deleteMessage({ userId: CAROL, messageId: 'm-2' }))
      .then([messageDeleted({ messageId: 'm-2', senderId: CAROL, seq: 2, deletedAt: at(10) })]);
  });

  it('lets the sender delete an edited message', () => {
    given([...chatWithMessages, messageEdited({ messageId: 'm-1' })])
      .when(deleteMessage({ messageId: 'm-1' }))
      .then([messageDeleted({ messageId: 'm-1', deletedAt: at(10) })]);
  });

  it('emits nothing when the message is already deleted (a safe retry)', () => {
    given([...chatWithMessages, messageDeleted({ messageId: 'm-1' })])
      .when(deleteMessage({ messageId: 'm-1' }))
      .thenNothing();
  });

  describe('who may delete', () => {
    it('rejects another participant as NotTheSender', () => {
      given(chatWithMessages)
        .when(deleteMessage({ userId: CAROL, messageId: 'm-1' }))
        .thenThrows(NotTheSender, 'FORBIDDEN');
    });

    it('rejects even the chat creator as NotTheSender', () => {
      given(chatWithMessages)
        .when(deleteMessage({ userId: ALICE, messageId: 'm-1' }))
        .thenThrows(NotTheSender, 'FORBIDDEN');
    });

    it('rejects another participant as NotTheSender even when the message is already deleted', () => {
      given([...chatWithMessages, messageDeleted({ messageId: 'm-1' })])
        .when(deleteMessage({ userId: CAROL, messageId: 'm-1' }))
        .thenThrows(NotTheSender, 'FORBIDDEN');
    });

    it('rejects a non-participant as NotAParticipant', () => {
      given(chatWithMessages)
        .when(deleteMessage({ userId: MALLORY, messageId: 'm-1' }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a sender who has since been removed as NotAParticipant', () => {
      given([...chatWithMessages, participantsRemoved({ userIds: [BOB] })])
        .when(deleteMessage({ userId: BOB, messageId: 'm-1' }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a chat that does not exist as ChatNotFound', () => {
      given([], []).when(deleteMessage()).thenThrows(ChatNotFound, 'NOT_FOUND');
    });
  });

  describe('which message', () => {
    it('rejects a message that does not exist as MessageNotFound', () => {
      given(chatWithMessages, [])
        .when(deleteMessage({ messageId: 'm-404' }))
        .thenThrows(MessageNotFound, 'NOT_FOUND');
    });

    it('rejects a message of another chat as MessageNotFound', () => {
      const elsewhere = messagePosted({ chatId: OTHER_CHAT, messageId: 'm-9', senderId: BOB, seq: 1 });
      given(chatWithMessages, [elsewhere])
        .when(deleteMessage({ userId: BOB, messageId: 'm-9' }))
        .thenThrows(MessageNotFound, 'NOT_FOUND');
    });
  });
});
