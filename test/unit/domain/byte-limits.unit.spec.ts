import {
  CHAT_LIMITS,
  ChatNameTooLarge,
  checkArguments,
  InvalidClientMessageId,
  InvalidUserId,
  type ChatCommand,
  type DomainErrorCode,
} from '../../../src/domain';
import { ALICE, BOB, CAROL, DAVE, at, chatCreated, createChat, messagePosted, postMessage, updateChat } from './fixtures';
import { HUGE_GRAPHEME } from '../../support/huge-grapheme';
import { given, type DomainErrorClass } from './given-when-then';

/**
 * DESIGN.md §5: ids and clientMessageId are 1..128 characters AND at most 512 bytes of UTF-8, chat
 * names 1..200 characters AND at most 1 KiB. A character is a grapheme cluster, and one of those can
 * be any size: 'a' and 6000 combining marks are one character of 12001 bytes, more than an index
 * row can hold.
 */
/** 128 characters of 4 bytes: exactly 512 bytes. */
const WIDEST_ID = '😀'.repeat(128);
/** Still 128 characters, but the last is 5 bytes: 513 bytes. */
const ONE_BYTE_TOO_MANY = '😀'.repeat(127) + 'e\u0301\u0301';
/** One character of 1025 bytes. */
const HEAVY_NAME = 'a' + '\u0301'.repeat(512);

const teamChat = [chatCreated()];

describe('byte limits of ids, clientMessageId and chat names', () => {
  it('measures the fixtures as the rules do', () => {
    expect(new TextEncoder().encode(HUGE_GRAPHEME).length).toBe(12001);
    expect(new TextEncoder().encode(WIDEST_ID).length).toBe(CHAT_LIMITS.userIdMaxBytes);
    expect(new TextEncoder().encode(ONE_BYTE_TOO_MANY).length).toBe(CHAT_LIMITS.userIdMaxBytes + 1);
    expect(new TextEncoder().encode(HEAVY_NAME).length).toBe(CHAT_LIMITS.nameMaxBytes + 1);
  });

  describe('clientMessageId', () => {
    it.each([
      ['one grapheme of 12 kB', HUGE_GRAPHEME],
      ['128 characters of 513 bytes', ONE_BYTE_TOO_MANY],
    ])('rejects %s as InvalidClientMessageId', (_case, clientMessageId) => {
      given(teamChat).when(postMessage({ clientMessageId })).thenThrows(InvalidClientMessageId, 'BAD_USER_INPUT');
    });

    it('accepts 128 characters of exactly 512 bytes', () => {
      given(teamChat)
        .when(postMessage({ clientMessageId: WIDEST_ID }))
        .then([messagePosted({ clientMessageId: WIDEST_ID, postedAt: at(10) })]);
    });

    it('rejects it before looking at the chat: a post to a chat that does not exist gets the same rule', () => {
      given([]).when(postMessage({ clientMessageId: HUGE_GRAPHEME })).thenThrows(InvalidClientMessageId, 'BAD_USER_INPUT');
    });
  });

  describe('participant ids', () => {
    it.each([
      ['one grapheme of 12 kB', HUGE_GRAPHEME],
      ['128 characters of 513 bytes', ONE_BYTE_TOO_MANY],
    ])('rejects %s in a new chat as InvalidUserId', (_case, id) => {
      given([]).when(createChat({ participantIds: [BOB, id] })).thenThrows(InvalidUserId, 'BAD_USER_INPUT');
    });

    it.each([
      ['one grapheme of 12 kB', HUGE_GRAPHEME],
      ['128 characters of 513 bytes', ONE_BYTE_TOO_MANY],
    ])('rejects %s to add or to remove as InvalidUserId', (_case, id) => {
      given(teamChat).when(updateChat({ addParticipantIds: [DAVE, id] })).thenThrows(InvalidUserId, 'BAD_USER_INPUT');
      given(teamChat).when(updateChat({ removeParticipantIds: [id] })).thenThrows(InvalidUserId, 'BAD_USER_INPUT');
    });

    it('accepts 128 characters of exactly 512 bytes', () => {
      given([])
        .when(createChat({ participantIds: [WIDEST_ID] }))
        .then([chatCreated({ participantIds: [ALICE, WIDEST_ID] })]);
    });
  });

  describe('chat name', () => {
    it('rejects one character over 1 KiB as ChatNameTooLarge, in a new chat and as a new name', () => {
      given([]).when(createChat({ name: HEAVY_NAME })).thenThrows(ChatNameTooLarge, 'BAD_USER_INPUT');
      given(teamChat).when(updateChat({ name: HEAVY_NAME })).thenThrows(ChatNameTooLarge, 'BAD_USER_INPUT');
    });

    it('accepts exactly 1 KiB', () => {
      const name = `a${'\u0301'.repeat(511)}b`;
      expect(new TextEncoder().encode(name).length).toBe(CHAT_LIMITS.nameMaxBytes);
      given([]).when(createChat({ name })).then([chatCreated({ name })]);
    });
  });

  describe('checkArguments: the rules that need no state, for the application to apply before any database work', () => {
    const refused: [string, ChatCommand, DomainErrorClass, DomainErrorCode][] = [
      ['a post with a 12 kB clientMessageId', postMessage({ clientMessageId: HUGE_GRAPHEME }), InvalidClientMessageId, 'BAD_USER_INPUT'],
      ['a new chat with a 12 kB participant id', createChat({ participantIds: [HUGE_GRAPHEME] }), InvalidUserId, 'BAD_USER_INPUT'],
      ['a 12 kB participant id to add', updateChat({ addParticipantIds: [HUGE_GRAPHEME] }), InvalidUserId, 'BAD_USER_INPUT'],
      ['a 12 kB participant id to remove', updateChat({ removeParticipantIds: [HUGE_GRAPHEME] }), InvalidUserId, 'BAD_USER_INPUT'],
      ['a name over 1 KiB', updateChat({ name: HEAVY_NAME }), ChatNameTooLarge, 'BAD_USER_INPUT'],
    ];

    it.each(refused)('refuses %s', (_case, command, errorClass, code) => {
      expect(() => checkArguments(command)).toThrow(errorClass);
      expect(() => checkArguments(command)).toThrow(expect.objectContaining({ code }));
    });

    it('lets through what only the state can refuse', () => {
      expect(() => checkArguments(postMessage({ userId: 'mallory', clientMessageId: WIDEST_ID }))).not.toThrow();
      expect(() => checkArguments(updateChat({ userId: CAROL, removeParticipantIds: [ALICE] }))).not.toThrow();
    });
  });
});
