import {
  CHAT_LIMITS,
  ChatAlreadyExists,
  InvalidChatName,
  InvalidUserId,
  TooManyParticipants,
} from '../../../src/domain';
import { ALICE, BOB, CAROL, at, chatCreated, createChat, userIds } from './fixtures';
import { given } from './given-when-then';

describe('CreateChat', () => {
  it('emits ChatCreated with the trimmed name', () => {
    given([])
      .when(createChat({ name: '  Team  ', participantIds: [BOB, CAROL], at: at(5) }))
      .then([
        {
          type: 'ChatCreated',
          data: { chatId: 'chat-1', name: 'Team', participantIds: [ALICE, BOB, CAROL], createdBy: ALICE, createdAt: at(5) },
        },
      ]);
  });

  describe('participants', () => {
    it('adds the creator as a participant when they did not list themselves', () => {
      given([])
        .when(createChat({ participantIds: [BOB] }))
        .then([chatCreated({ participantIds: [ALICE, BOB] })]);
    });

    it('keeps the creator once when they listed themselves', () => {
      given([])
        .when(createChat({ participantIds: [BOB, ALICE] }))
        .then([chatCreated({ participantIds: [ALICE, BOB] })]);
    });

    it('makes a chat of the creator alone when nobody else is listed', () => {
      given([])
        .when(createChat({ participantIds: [] }))
        .then([chatCreated({ participantIds: [ALICE] })]);
    });

    it('collapses duplicate participant ids', () => {
      given([])
        .when(createChat({ participantIds: [BOB, BOB, CAROL, BOB, CAROL] }))
        .then([chatCreated({ participantIds: [ALICE, BOB, CAROL] })]);
    });

    it(`accepts ${CHAT_LIMITS.maxParticipants} participants including the creator`, () => {
      const others = userIds(CHAT_LIMITS.maxParticipants - 1);
      given([])
        .when(createChat({ participantIds: others }))
        .then([chatCreated({ participantIds: [ALICE, ...others] })]);
    });

    it(`accepts ${CHAT_LIMITS.maxParticipants} listed participants when the creator is among them`, () => {
      const others = userIds(CHAT_LIMITS.maxParticipants - 1);
      given([])
        .when(createChat({ participantIds: [...others, ALICE] }))
        .then([chatCreated({ participantIds: [ALICE, ...others] })]);
    });

    it('counts participants after collapsing duplicates', () => {
      const others = userIds(CHAT_LIMITS.maxParticipants - 1);
      given([])
        .when(createChat({ participantIds: [...others, ...others] }))
        .then([chatCreated({ participantIds: [ALICE, ...others] })]);
    });

    it(`rejects ${CHAT_LIMITS.maxParticipants + 1} participants including the creator as TooManyParticipants`, () => {
      given([])
        .when(createChat({ participantIds: userIds(CHAT_LIMITS.maxParticipants) }))
        .thenThrows(TooManyParticipants, 'BAD_USER_INPUT');
    });

    it.each([
      ['empty', ''],
      ['whitespace only', '   '],
      ['padded with a leading space', ' bob'],
      ['padded with a trailing space', 'bob '],
      [`longer than ${CHAT_LIMITS.userIdMaxChars} characters`, 'u'.repeat(CHAT_LIMITS.userIdMaxChars + 1)],
    ])('rejects a participant id that is %s as InvalidUserId', (_case, badId) => {
      given([])
        .when(createChat({ participantIds: [BOB, badId] }))
        .thenThrows(InvalidUserId, 'BAD_USER_INPUT');
    });

    it(`accepts a participant id of exactly ${CHAT_LIMITS.userIdMaxChars} characters`, () => {
      const longId = 'u'.repeat(CHAT_LIMITS.userIdMaxChars);
      given([])
        .when(createChat({ participantIds: [longId] }))
        .then([chatCreated({ participantIds: [ALICE, longId] })]);
    });
  });

  describe('name', () => {
    it.each([
      ['empty', ''],
      ['only spaces', '   '],
      ['only tabs and newlines', '\t\n \r\n'],
    ])('rejects a name that is %s as InvalidChatName', (_case, name) => {
      given([]).when(createChat({ name })).thenThrows(InvalidChatName, 'BAD_USER_INPUT');
    });

    it(`accepts a name of exactly ${CHAT_LIMITS.nameMaxChars} characters`, () => {
      const name = 'n'.repeat(CHAT_LIMITS.nameMaxChars);
      given([]).when(createChat({ name })).then([chatCreated({ name })]);
    });

    it(`rejects a name of ${CHAT_LIMITS.nameMaxChars + 1} characters as InvalidChatName`, () => {
      given([])
        .when(createChat({ name: 'n'.repeat(CHAT_LIMITS.nameMaxChars + 1) }))
        .thenThrows(InvalidChatName, 'BAD_USER_INPUT');
    });

    it(`accepts ${CHAT_LIMITS.nameMaxChars} characters padded with spaces (trims before counting)`, () => {
      const name = 'n'.repeat(CHAT_LIMITS.nameMaxChars);
      given([]).when(createChat({ name: `   ${name}   ` })).then([chatCreated({ name })]);
    });

    it(`counts an emoji as one character (${CHAT_LIMITS.nameMaxChars} emoji are accepted)`, () => {
      const name = '😀'.repeat(CHAT_LIMITS.nameMaxChars);
      expect(name.length).toBe(CHAT_LIMITS.nameMaxChars * 2); // two UTF-16 units each
      given([]).when(createChat({ name })).then([chatCreated({ name })]);
    });

    it(`rejects ${CHAT_LIMITS.nameMaxChars + 1} emoji as InvalidChatName`, () => {
      given([])
        .when(createChat({ name: '😀'.repeat(CHAT_LIMITS.nameMaxChars + 1) }))
        .thenThrows(InvalidChatName, 'BAD_USER_INPUT');
    });
  });

  it('rejects creating a chat that already exists as ChatAlreadyExists', () => {
    given([chatCreated()]).when(createChat()).thenThrows(ChatAlreadyExists, 'CONFLICT');
  });

  it('rejects re-creating an existing chat even by another user with other participants', () => {
    given([chatCreated()])
      .when(createChat({ userId: BOB, name: 'Other', participantIds: [CAROL] }))
      .thenThrows(ChatAlreadyExists, 'CONFLICT');
  });
});
