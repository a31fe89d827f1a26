import { UnstorableText } from '../../../src/domain';
import {
  BOB,
  CAROL,
  DAVE,
  at,
  chatCreated,
  createChat,
  editMessage,
  messageEdited,
  messagePosted,
  postMessage,
  updateChat,
} from './fixtures';
import { given } from './given-when-then';

/**
 * DESIGN.md §5: no NUL and no unpaired surrogate in any text the chat stores. PostgreSQL cannot store
 * either, so the domain refuses them as a named rule rather than let them fail as an internal error.
 */
const unstorable: [string, string][] = [
  ['a NUL character', 'hel\u0000lo'],
  ['a lone high surrogate', 'hel\ud800lo'],
  ['a lone low surrogate', '\udc00hello'],
  ['a high surrogate at the very end', 'hello\ud83d'],
  ['two high surrogates in a row', '\ud83d\ud83dhello'],
];

const teamChat = [chatCreated()];
const chatWithMessage = [...teamChat, messagePosted({ messageId: 'm-1', senderId: BOB })];

describe('text the chat stores', () => {
  describe.each(unstorable)('rejects %s as UnstorableText', (_case, text) => {
    it('in the content of a post', () => {
      given(teamChat).when(postMessage({ content: text })).thenThrows(UnstorableText, 'BAD_USER_INPUT');
    });

    it('in the content of an edit', () => {
      given(chatWithMessage).when(editMessage({ messageId: 'm-1', content: text })).thenThrows(UnstorableText, 'BAD_USER_INPUT');
    });

    it('in a clientMessageId', () => {
      given(teamChat).when(postMessage({ clientMessageId: text })).thenThrows(UnstorableText, 'BAD_USER_INPUT');
    });

    it('in the name of a new chat', () => {
      given([]).when(createChat({ name: text })).thenThrows(UnstorableText, 'BAD_USER_INPUT');
    });

    it('in a new name', () => {
      given(teamChat).when(updateChat({ name: text })).thenThrows(UnstorableText, 'BAD_USER_INPUT');
    });

    it('in a participant id of a new chat', () => {
      given([]).when(createChat({ participantIds: [BOB, text] })).thenThrows(UnstorableText, 'BAD_USER_INPUT');
    });

    it('in a participant id to add', () => {
      given(teamChat).when(updateChat({ addParticipantIds: [DAVE, text] })).thenThrows(UnstorableText, 'BAD_USER_INPUT');
    });

    it('in a participant id to remove', () => {
      given(teamChat).when(updateChat({ removeParticipantIds: [CAROL, text] })).thenThrows(UnstorableText, 'BAD_USER_INPUT');
    });
  });

  it('accepts surrogate pairs (emoji) and other control characters', () => {
    const content = 'tab\there 😀 𝄞 \u0001';
    given(chatWithMessage)
      .when(editMessage({ messageId: 'm-1', content }))
      .then([messageEdited({ messageId: 'm-1', content, editedAt: at(10) })]);
  });
});
