import { ChatNotFound, MessageNotFound, NotAParticipant } from '../../../src/domain';
import {
  ALICE,
  BOB,
  CAROL,
  MALLORY,
  OTHER_CHAT,
  at,
  chatCreated,
  markMessageRead,
  messagePosted,
  messageRead,
  participantsRemoved,
} from './fixtures';
import { given } from './given-when-then';

/** ALICE posted m-1, m-2, m-3 (seq 1..3) in her chat with BOB and CAROL. */
const chatWithMessages = [
  chatCreated(),
  messagePosted({ messageId: 'm-1', senderId: ALICE, seq: 1 }),
  messagePosted({ messageId: 'm-2', senderId: ALICE, seq: 2 }),
  messagePosted({ messageId: 'm-3', senderId: ALICE, seq: 3 }),
];

describe('MarkMessageRead', () => {
  it('emits MessageRead with the seq of the marked message when a participant marks it', () => {
    given(chatWithMessages)
      .when(markMessageRead({ userId: BOB, messageId: 'm-2', at: at(6) }))
      .then([
        {
          type: 'MessageRead',
          data: { chatId: 'chat-1', messageId: 'm-2', userId: BOB, seq: 2, readAt: at(6) },
        },
      ]);
  });

  describe('marks only move forward', () => {
    const bobReadM2 = [...chatWithMessages, messageRead({ userId: BOB, messageId: 'm-2', seq: 2 })];

    it('emits nothing when the same message is marked again', () => {
      given(bobReadM2).when(markMessageRead({ userId: BOB, messageId: 'm-2' })).thenNothing();
    });

    it('emits nothing when an older message is marked after the mark', () => {
      given(bobReadM2).when(markMessageRead({ userId: BOB, messageId: 'm-1' })).thenNothing();
    });

    it('emits MessageRead when a newer message is marked', () => {
      given(bobReadM2)
        .when(markMessageRead({ userId: BOB, messageId: 'm-3' }))
        .then([messageRead({ userId: BOB, messageId: 'm-3', seq: 3, readAt: at(10) })]);
    });

    it("does not let one participant's mark hold back another's", () => {
      given(bobReadM2)
        .when(markMessageRead({ userId: CAROL, messageId: 'm-1' }))
        .then([messageRead({ userId: CAROL, messageId: 'm-1', seq: 1, readAt: at(10) })]);
    });
  });

  describe("the sender's own post moves their mark", () => {
    /** BOB posted m-3 (seq 3) after two messages of ALICE; then ALICE posted m-4 (seq 4). */
    const bobPostedSeq3 = [
      chatCreated(),
      messagePosted({ messageId: 'm-1', senderId: ALICE, seq: 1 }),
      messagePosted({ messageId: 'm-2', senderId: ALICE, seq: 2 }),
      messagePosted({ messageId: 'm-3', senderId: BOB, seq: 3 }),
      messagePosted({ messageId: 'm-4', senderId: ALICE, seq: 4 }),
    ];

    it('emits nothing when the sender marks an earlier message (seq 2)', () => {
      given(bobPostedSeq3).when(markMessageRead({ userId: BOB, messageId: 'm-2' })).thenNothing();
    });

    it('emits nothing when the sender marks their own message (seq 3)', () => {
      given(bobPostedSeq3).when(markMessageRead({ userId: BOB, messageId: 'm-3' })).thenNothing();
    });

    it('emits MessageRead when the sender marks a later message (seq 4)', () => {
      given(bobPostedSeq3)
        .when(markMessageRead({ userId: BOB, messageId: 'm-4' }))
        .then([messageRead({ userId: BOB, messageId: 'm-4', seq: 4, readAt: at(10) })]);
    });
  });

  describe('who may mark', () => {
    it('rejects a non-participant as NotAParticipant', () => {
      given(chatWithMessages)
        .when(markMessageRead({ userId: MALLORY, messageId: 'm-1' }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a participant who has been removed as NotAParticipant', () => {
      given([...chatWithMessages, participantsRemoved({ userIds: [BOB] })])
        .when(markMessageRead({ userId: BOB, messageId: 'm-1' }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a chat that does not exist as ChatNotFound', () => {
      given([], []).when(markMessageRead()).thenThrows(ChatNotFound, 'NOT_FOUND');
    });
  });

  describe('which message', () => {
    it('rejects a message that does not exist as MessageNotFound', () => {
      given(chatWithMessages, [])
        .when(markMessageRead({ userId: BOB, messageId: 'm-404' }))
        .thenThrows(MessageNotFound, 'NOT_FOUND');
    });

    it('rejects a message of another chat as MessageNotFound', () => {
      const elsewhere = messagePosted({ chatId: OTHER_CHAT, messageId: 'm-9', senderId: ALICE, seq: 9 });
      given(chatWithMessages, [elsewhere])
        .when(markMessageRead({ userId: BOB, messageId: 'm-9' }))
        .thenThrows(MessageNotFound, 'NOT_FOUND');
    });
  });
});
