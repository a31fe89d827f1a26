import {
  CHAT_LIMITS,
  ChatNotFound,
  ContentTooLarge,
  InvalidContent,
  MessageAlreadyDeleted,
  MessageNotFound,
  NotAParticipant,
  NotTheSender,
} from '../../../src/domain';
import {
  ALICE,
  BOB,
  CAROL,
  MALLORY,
  OTHER_CHAT,
  at,
  chatCreated,
  editMessage,
  messageDeleted,
  messageEdited,
  messagePosted,
  participantsRemoved,
} from './fixtures';
import { given } from './given-when-then';

/** BOB posted "hello" as m-1 (seq 1) and CAROL posted m-2 (seq 2) in ALICE's chat. */
const chatWithMessages = [
  chatCreated(),
  messagePosted({ messageId: 'm-1', senderId: BOB, seq: 1, content: 'hello' }),
  messagePosted({ messageId: 'm-2', senderId: CAROL, seq: 2, content: 'hi bob' }),
];

describe('EditMessage', () => {
  it('emits MessageEdited when the sender edits, with the trimmed content', () => {
    given(chatWithMessages)
      .when(editMessage({ userId: BOB, messageId: 'm-1', content: '  hello, world ', at: at(6) }))
      .then([
        {
          type: 'MessageEdited',
          data: {
            chatId: 'chat-1',
            messageId: 'm-1',
            senderId: BOB,
            seq: 1,
            content: 'hello, world',
            postedAt: at(2),
            editedAt: at(6),
          },
        },
      ]);
  });

  it('carries the seq of the edited message, not the latest seq', () => {
    given(chatWithMessages)
      .when(editMessage({ userId: CAROL, messageId: 'm-2', content: 'hi' }))
      .then([messageEdited({ messageId: 'm-2', senderId: CAROL, seq: 2, content: 'hi', editedAt: at(10) })]);
  });

  it('lets the sender edit again, compared with the latest content', () => {
    given([...chatWithMessages, messageEdited({ messageId: 'm-1', content: 'hello again' })])
      .when(editMessage({ messageId: 'm-1', content: 'hello' }))
      .then([messageEdited({ messageId: 'm-1', content: 'hello', editedAt: at(10) })]);
  });

  it('emits nothing when the content is unchanged', () => {
    given(chatWithMessages).when(editMessage({ messageId: 'm-1', content: 'hello' })).thenNothing();
  });

  it('emits nothing when the content is unchanged after trimming', () => {
    given(chatWithMessages).when(editMessage({ messageId: 'm-1', content: '  hello\n' })).thenNothing();
  });

  describe('who may edit', () => {
    it('rejects another participant as NotTheSender', () => {
      given(chatWithMessages)
        .when(editMessage({ userId: CAROL, messageId: 'm-1' }))
        .thenThrows(NotTheSender, 'FORBIDDEN');
    });

    it('rejects even the chat creator as NotTheSender', () => {
      given(chatWithMessages)
        .when(editMessage({ userId: ALICE, messageId: 'm-1' }))
        .thenThrows(NotTheSender, 'FORBIDDEN');
    });

    it('rejects a non-participant as NotAParticipant', () => {
      given(chatWithMessages)
        .when(editMessage({ userId: MALLORY, messageId: 'm-1' }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a sender who has since been removed as NotAParticipant', () => {
      given([...chatWithMessages, participantsRemoved({ userIds: [BOB] })])
        .when(editMessage({ userId: BOB, messageId: 'm-1' }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a chat that does not exist as ChatNotFound', () => {
      given([], []).when(editMessage()).thenThrows(ChatNotFound, 'NOT_FOUND');
    });
  });

  describe('which message', () => {
    it('rejects a message that does not exist as MessageNotFound', () => {
      given(chatWithMessages, [])
        .when(editMessage({ messageId: 'm-404' }))
        .thenThrows(MessageNotFound, 'NOT_FOUND');
    });

    it('rejects a message of another chat as MessageNotFound', () => {
      const elsewhere = messagePosted({ chatId: OTHER_CHAT, messageId: 'm-9', senderId: BOB, seq: 1 });
      given(chatWithMessages, [elsewhere])
        .when(editMessage({ userId: BOB, messageId: 'm-9' }))
        .thenThrows(MessageNotFound, 'NOT_FOUND');
    });

    it('rejects a deleted message as MessageAlreadyDeleted', () => {
      given([...chatWithMessages, messageDeleted({ messageId: 'm-1' })])
        .when(editMessage({ messageId: 'm-1', content: 'too late' }))
        .thenThrows(MessageAlreadyDeleted, 'CONFLICT');
    });
  });

  describe('content', () => {
    it.each([
      ['empty', ''],
      ['only spaces', '   '],
      [`${CHAT_LIMITS.contentMaxChars + 1} characters`, 'x'.repeat(CHAT_LIMITS.contentMaxChars + 1)],
    ])('rejects content that is %s as InvalidContent', (_case, content) => {
      given(chatWithMessages).when(editMessage({ messageId: 'm-1', content })).thenThrows(InvalidContent, 'BAD_USER_INPUT');
    });

    it(`accepts exactly ${CHAT_LIMITS.contentMaxChars} characters`, () => {
      const content = 'x'.repeat(CHAT_LIMITS.contentMaxChars);
      given(chatWithMessages)
        .when(editMessage({ messageId: 'm-1', content }))
        .then([messageEdited({ messageId: 'm-1', content, editedAt: at(10) })]);
    });

    it(`rejects ${CHAT_LIMITS.contentMaxChars} characters that take more than ${CHAT_LIMITS.contentMaxBytes} bytes as ContentTooLarge`, () => {
      given(chatWithMessages)
        .when(editMessage({ messageId: 'm-1', content: '👍🏽'.repeat(CHAT_LIMITS.contentMaxChars) }))
        .thenThrows(ContentTooLarge, 'BAD_USER_INPUT');
    });

    it(`accepts exactly ${CHAT_LIMITS.contentMaxBytes} bytes`, () => {
      const content = '👍🏽'.repeat(CHAT_LIMITS.contentMaxBytes / 8);
      given(chatWithMessages)
        .when(editMessage({ messageId: 'm-1', content }))
        .then([messageEdited({ messageId: 'm-1', content, editedAt: at(10) })]);
    });
  });
});
