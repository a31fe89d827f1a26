import {
  CHAT_LIMITS,
  ChatNotFound,
  ContentTooLarge,
  InvalidClientMessageId,
  InvalidContent,
  NotAParticipant,
} from '../../../src/domain';
import {
  ALICE,
  BOB,
  CAROL,
  DAVE,
  MALLORY,
  at,
  chatCreated,
  messageDeleted,
  messageEdited,
  messagePosted,
  participantsAdded,
  participantsRemoved,
  postMessage,
} from './fixtures';
import { given } from './given-when-then';

const teamChat = [chatCreated()];

describe('PostMessage', () => {
  it('emits MessagePosted with seq 1, the trimmed content and a null clientMessageId when none is given', () => {
    given(teamChat)
      .when(postMessage({ userId: BOB, messageId: 'm-1', content: '  hello  ', at: at(5) }))
      .then([
        {
          type: 'MessagePosted',
          data: {
            chatId: 'chat-1',
            messageId: 'm-1',
            senderId: BOB,
            content: 'hello',
            seq: 1,
            clientMessageId: null,
            postedAt: at(5),
          },
        },
      ]);
  });

  it('treats an explicit null clientMessageId as none', () => {
    given(teamChat)
      .when(postMessage({ clientMessageId: null }))
      .then([messagePosted({ clientMessageId: null, postedAt: at(10) })]);
  });

  it('carries the clientMessageId into the event', () => {
    given(teamChat)
      .when(postMessage({ clientMessageId: 'c-1' }))
      .then([messagePosted({ clientMessageId: 'c-1', postedAt: at(10) })]);
  });

  it('lets the creator post', () => {
    given(teamChat)
      .when(postMessage({ userId: ALICE }))
      .then([messagePosted({ senderId: ALICE, postedAt: at(10) })]);
  });

  describe('seq', () => {
    it('gives the second message seq 2', () => {
      given([...teamChat, messagePosted({ messageId: 'm-1', seq: 1 })])
        .when(postMessage({ userId: CAROL, messageId: 'm-2' }))
        .then([messagePosted({ messageId: 'm-2', senderId: CAROL, seq: 2, postedAt: at(10) })]);
    });

    it('continues after the last seq even when messages were edited or deleted (no gaps, no reuse)', () => {
      given([
        ...teamChat,
        messagePosted({ messageId: 'm-1', seq: 1 }),
        messagePosted({ messageId: 'm-2', seq: 2 }),
        messageEdited({ messageId: 'm-1', seq: 1 }),
        messageDeleted({ messageId: 'm-2', seq: 2 }),
      ])
        .when(postMessage({ messageId: 'm-3' }))
        .then([messagePosted({ messageId: 'm-3', seq: 3, postedAt: at(10) })]);
    });
  });

  describe('who may post', () => {
    it('rejects a chat that does not exist as ChatNotFound', () => {
      given([]).when(postMessage()).thenThrows(ChatNotFound, 'NOT_FOUND');
    });

    it('rejects a caller who is not a participant as NotAParticipant', () => {
      given(teamChat).when(postMessage({ userId: MALLORY })).thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a participant who has been removed as NotAParticipant', () => {
      given([...teamChat, participantsRemoved({ userIds: [BOB] })])
        .when(postMessage({ userId: BOB }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a participant who left the chat as NotAParticipant', () => {
      given([...teamChat, participantsRemoved({ userIds: [BOB], removedBy: BOB })])
        .when(postMessage({ userId: BOB }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('lets an added participant post', () => {
      given([...teamChat, participantsAdded({ userIds: [DAVE] })])
        .when(postMessage({ userId: DAVE }))
        .then([messagePosted({ senderId: DAVE, postedAt: at(10) })]);
    });
  });

  describe('content', () => {
    it.each([
      ['empty', ''],
      ['only spaces', '   '],
      ['only tabs and newlines', '\n\t\r\n'],
    ])('rejects content that is %s as InvalidContent', (_case, content) => {
      given(teamChat).when(postMessage({ content })).thenThrows(InvalidContent, 'BAD_USER_INPUT');
    });

    it(`accepts exactly ${CHAT_LIMITS.contentMaxChars} characters`, () => {
      const content = 'x'.repeat(CHAT_LIMITS.contentMaxChars);
      given(teamChat).when(postMessage({ content })).then([messagePosted({ content, postedAt: at(10) })]);
    });

    it(`rejects ${CHAT_LIMITS.contentMaxChars + 1} characters as InvalidContent`, () => {
      given(teamChat)
        .when(postMessage({ content: 'x'.repeat(CHAT_LIMITS.contentMaxChars + 1) }))
        .thenThrows(InvalidContent, 'BAD_USER_INPUT');
    });

    it(`accepts ${CHAT_LIMITS.contentMaxChars} characters padded with spaces (trims before counting)`, () => {
      const content = 'x'.repeat(CHAT_LIMITS.contentMaxChars);
      given(teamChat)
        .when(postMessage({ content: `  ${content}\n ` }))
        .then([messagePosted({ content, postedAt: at(10) })]);
    });

    it(`counts an emoji as one character (${CHAT_LIMITS.contentMaxChars} emoji are accepted)`, () => {
      const content = '🎉'.repeat(CHAT_LIMITS.contentMaxChars);
      given(teamChat).when(postMessage({ content })).then([messagePosted({ content, postedAt: at(10) })]);
    });

    it(`rejects ${CHAT_LIMITS.contentMaxChars + 1} emoji as InvalidContent`, () => {
      given(teamChat)
        .when(postMessage({ content: '🎉'.repeat(CHAT_LIMITS.contentMaxChars + 1) }))
        .thenThrows(InvalidContent, 'BAD_USER_INPUT');
    });

    describe(`at most ${CHAT_LIMITS.contentMaxBytes} bytes of UTF-8`, () => {
      // 👍🏽 is one character of eight bytes (two four-byte code points).
      const thumbs = (count: number) => '👍🏽'.repeat(count);

      it(`accepts ${CHAT_LIMITS.contentMaxBytes / 8} eight-byte characters, exactly ${CHAT_LIMITS.contentMaxBytes} bytes`, () => {
        const content = thumbs(CHAT_LIMITS.contentMaxBytes / 8);
        given(teamChat).when(postMessage({ content })).then([messagePosted({ content, postedAt: at(10) })]);
      });

      it(`rejects one byte more than ${CHAT_LIMITS.contentMaxBytes} as ContentTooLarge`, () => {
        given(teamChat)
          .when(postMessage({ content: `${thumbs(CHAT_LIMITS.contentMaxBytes / 8)}x` }))
          .thenThrows(ContentTooLarge, 'BAD_USER_INPUT');
      });

      it(`rejects ${CHAT_LIMITS.contentMaxChars} characters that take more than ${CHAT_LIMITS.contentMaxBytes} bytes as ContentTooLarge`, () => {
        given(teamChat)
          .when(postMessage({ content: thumbs(CHAT_LIMITS.contentMaxChars) }))
          .thenThrows(ContentTooLarge, 'BAD_USER_INPUT');
      });

      it('counts the bytes after trimming', () => {
        const content = thumbs(CHAT_LIMITS.contentMaxBytes / 8);
        given(teamChat)
          .when(postMessage({ content: `   ${content}\n\n` }))
          .then([messagePosted({ content, postedAt: at(10) })]);
      });
    });
  });

  describe('clientMessageId (safe retries)', () => {
    const firstPost = messagePosted({ messageId: 'm-1', senderId: BOB, seq: 1, clientMessageId: 'c-1' });

    it('emits nothing when the same sender retries with the same clientMessageId', () => {
      given([...teamChat, firstPost])
        .when(postMessage({ userId: BOB, messageId: 'm-2', clientMessageId: 'c-1' }))
        .thenNothing();
    });

    it('emits nothing on a retry with the same clientMessageId even if the content differs', () => {
      given([...teamChat, firstPost])
        .when(postMessage({ userId: BOB, messageId: 'm-2', content: 'something else', clientMessageId: 'c-1' }))
        .thenNothing();
    });

    it('emits nothing on a retry after the first post was deleted', () => {
      given([...teamChat, firstPost, messageDeleted({ messageId: 'm-1' })])
        .when(postMessage({ userId: BOB, messageId: 'm-2', clientMessageId: 'c-1' }))
        .thenNothing();
    });

    it('posts a new message for a different clientMessageId', () => {
      given([...teamChat, firstPost])
        .when(postMessage({ userId: BOB, messageId: 'm-2', clientMessageId: 'c-2' }))
        .then([messagePosted({ messageId: 'm-2', seq: 2, clientMessageId: 'c-2', postedAt: at(10) })]);
    });

    it('posts a new message when no clientMessageId is given, even if an earlier post had one', () => {
      given([...teamChat, firstPost], [firstPost])
        .when(postMessage({ userId: BOB, messageId: 'm-2' }))
        .then([messagePosted({ messageId: 'm-2', seq: 2, clientMessageId: null, postedAt: at(10) })]);
    });

    it("posts a new message when the previous post with that clientMessageId is someone else's", () => {
      const carolsPost = messagePosted({ messageId: 'm-1', senderId: CAROL, seq: 1, clientMessageId: 'c-1' });
      given([...teamChat, carolsPost], [carolsPost])
        .when(postMessage({ userId: BOB, messageId: 'm-2', clientMessageId: 'c-1' }))
        .then([messagePosted({ messageId: 'm-2', senderId: BOB, seq: 2, clientMessageId: 'c-1', postedAt: at(10) })]);
    });

    it(`accepts a clientMessageId of exactly ${CHAT_LIMITS.clientMessageIdMaxChars} characters`, () => {
      const clientMessageId = 'c'.repeat(CHAT_LIMITS.clientMessageIdMaxChars);
      given(teamChat)
        .when(postMessage({ clientMessageId }))
        .then([messagePosted({ clientMessageId, postedAt: at(10) })]);
    });

    it(`rejects a clientMessageId longer than ${CHAT_LIMITS.clientMessageIdMaxChars} as InvalidClientMessageId`, () => {
      given(teamChat)
        .when(postMessage({ clientMessageId: 'c'.repeat(CHAT_LIMITS.clientMessageIdMaxChars + 1) }))
        .thenThrows(InvalidClientMessageId, 'BAD_USER_INPUT');
    });

    it('rejects an empty clientMessageId as InvalidClientMessageId', () => {
      given(teamChat).when(postMessage({ clientMessageId: '' })).thenThrows(InvalidClientMessageId, 'BAD_USER_INPUT');
    });

    it('rejects a retry from a sender who has since been removed as NotAParticipant', () => {
      given([...teamChat, firstPost, participantsRemoved({ userIds: [BOB] })])
        .when(postMessage({ userId: BOB, messageId: 'm-2', clientMessageId: 'c-1' }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });
  });
});
