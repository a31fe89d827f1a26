import {
  CHAT_LIMITS,
  ChatNotFound,
  CreatorMustStay,
  InvalidChatName,
  InvalidUserId,
  NotAParticipant,
  NothingToUpdate,
  OnlyCreatorRemovesOthers,
  TooManyParticipants,
} from '../../../src/domain';
import {
  ALICE,
  BOB,
  CAROL,
  DAVE,
  ERIN,
  MALLORY,
  at,
  chatCreated,
  chatRenamed,
  participantsAdded,
  participantsRemoved,
  updateChat,
  userIds,
} from './fixtures';
import { given } from './given-when-then';

/** The default chat: "Team", created by ALICE with BOB and CAROL. */
const teamChat = [chatCreated()];

/** A chat of ALICE and `others`, so `1 + others` participants. */
function chatWith(others: number) {
  return [chatCreated({ participantIds: [ALICE, ...userIds(others)] })];
}

describe('UpdateChat', () => {
  describe('who may update', () => {
    it('rejects a chat that does not exist as ChatNotFound', () => {
      given([]).when(updateChat({ name: 'New' })).thenThrows(ChatNotFound, 'NOT_FOUND');
    });

    it('rejects a caller who is not a participant as NotAParticipant', () => {
      given(teamChat).when(updateChat({ userId: MALLORY, name: 'New' })).thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a participant who has been removed as NotAParticipant', () => {
      given([...teamChat, participantsRemoved({ userIds: [BOB] })])
        .when(updateChat({ userId: BOB, name: 'New' }))
        .thenThrows(NotAParticipant, 'FORBIDDEN');
    });

    it('rejects a command with no fields as NothingToUpdate', () => {
      given(teamChat).when(updateChat()).thenThrows(NothingToUpdate, 'BAD_USER_INPUT');
    });

    it('rejects a command whose fields are all null as NothingToUpdate', () => {
      given(teamChat)
        .when(updateChat({ name: null, addParticipantIds: null, removeParticipantIds: null }))
        .thenThrows(NothingToUpdate, 'BAD_USER_INPUT');
    });
  });

  describe('rename', () => {
    it('emits ChatRenamed with the trimmed name', () => {
      given(teamChat)
        .when(updateChat({ name: '  Project X  ', at: at(7) }))
        .then([chatRenamed({ name: 'Project X', renamedBy: ALICE, renamedAt: at(7) })]);
    });

    it('lets any participant rename, not only the creator', () => {
      given(teamChat)
        .when(updateChat({ userId: BOB, name: 'Project X' }))
        .then([chatRenamed({ name: 'Project X', renamedBy: BOB, renamedAt: at(10) })]);
    });

    it('emits nothing when the name is unchanged', () => {
      given(teamChat).when(updateChat({ name: 'Team' })).thenNothing();
    });

    it('emits nothing when the name is unchanged after trimming', () => {
      given(teamChat).when(updateChat({ name: '  Team ' })).thenNothing();
    });

    it('compares with the latest name, not the original one', () => {
      given([...teamChat, chatRenamed({ name: 'Project X' })]).when(updateChat({ name: 'Project X' })).thenNothing();
    });

    it('rejects a whitespace-only name as InvalidChatName', () => {
      given(teamChat).when(updateChat({ name: '   ' })).thenThrows(InvalidChatName, 'BAD_USER_INPUT');
    });

    it(`rejects a name of ${CHAT_LIMITS.nameMaxChars + 1} characters as InvalidChatName`, () => {
      given(teamChat)
        .when(updateChat({ name: 'n'.repeat(CHAT_LIMITS.nameMaxChars + 1) }))
        .thenThrows(InvalidChatName, 'BAD_USER_INPUT');
    });
  });

  describe('add participants', () => {
    it('emits ParticipantsAdded with only the ids that are new, once each', () => {
      given(teamChat)
        .when(updateChat({ userId: BOB, addParticipantIds: [BOB, DAVE, ALICE, ERIN, DAVE], at: at(8) }))
        .then([participantsAdded({ userIds: [DAVE, ERIN], addedBy: BOB, addedAt: at(8) })]);
    });

    it('emits nothing when everyone added is already a participant', () => {
      given(teamChat).when(updateChat({ addParticipantIds: [BOB, CAROL] })).thenNothing();
    });

    it('rejects an invalid participant id as InvalidUserId', () => {
      given(teamChat).when(updateChat({ addParticipantIds: [DAVE, ' erin'] })).thenThrows(InvalidUserId, 'BAD_USER_INPUT');
    });

    it(`fills a chat up to exactly ${CHAT_LIMITS.maxParticipants} participants`, () => {
      given(chatWith(CHAT_LIMITS.maxParticipants - 2))
        .when(updateChat({ addParticipantIds: [DAVE] }))
        .then([participantsAdded({ userIds: [DAVE], addedAt: at(10) })]);
    });

    it(`rejects adding beyond ${CHAT_LIMITS.maxParticipants} participants as TooManyParticipants`, () => {
      given(chatWith(CHAT_LIMITS.maxParticipants - 2))
        .when(updateChat({ addParticipantIds: [DAVE, ERIN] }))
        .thenThrows(TooManyParticipants, 'BAD_USER_INPUT');
    });

    it('rejects adding anyone to a full chat as TooManyParticipants', () => {
      given(chatWith(CHAT_LIMITS.maxParticipants - 1))
        .when(updateChat({ addParticipantIds: [DAVE] }))
        .thenThrows(TooManyParticipants, 'BAD_USER_INPUT');
    });

    it('lets a full chat swap one participant for another in one command', () => {
      given(chatWith(CHAT_LIMITS.maxParticipants - 1))
        .when(updateChat({ addParticipantIds: [DAVE], removeParticipantIds: ['user-1'] }))
        .then([
          participantsAdded({ userIds: [DAVE], addedAt: at(10) }),
          participantsRemoved({ userIds: ['user-1'], removedAt: at(10) }),
        ]);
    });

    it('lets a removed user be added back', () => {
      given([...teamChat, participantsRemoved({ userIds: [BOB] })])
        .when(updateChat({ addParticipantIds: [BOB] }))
        .then([participantsAdded({ userIds: [BOB], addedAt: at(10) })]);
    });
  });

  describe('remove participants', () => {
    it('emits ParticipantsRemoved when the creator removes others', () => {
      given(teamChat)
        .when(updateChat({ removeParticipantIds: [BOB, CAROL], at: at(9) }))
        .then([participantsRemoved({ userIds: [BOB, CAROL], removedBy: ALICE, removedAt: at(9) })]);
    });

    it('names each removed participant once', () => {
      given(teamChat)
        .when(updateChat({ removeParticipantIds: [BOB, BOB] }))
        .then([participantsRemoved({ userIds: [BOB], removedAt: at(10) })]);
    });

    it('rejects the creator removing themselves as CreatorMustStay', () => {
      given(teamChat).when(updateChat({ removeParticipantIds: [ALICE] })).thenThrows(CreatorMustStay, 'BAD_USER_INPUT');
    });

    it('rejects anyone removing the creator as CreatorMustStay', () => {
      given(teamChat)
        .when(updateChat({ userId: BOB, removeParticipantIds: [ALICE] }))
        .thenThrows(CreatorMustStay, 'BAD_USER_INPUT');
    });

    it('rejects a non-creator removing someone else as OnlyCreatorRemovesOthers', () => {
      given(teamChat)
        .when(updateChat({ userId: BOB, removeParticipantIds: [CAROL] }))
        .thenThrows(OnlyCreatorRemovesOthers, 'FORBIDDEN');
    });

    it('rejects a non-creator leaving and removing someone else at once as OnlyCreatorRemovesOthers', () => {
      given(teamChat)
        .when(updateChat({ userId: BOB, removeParticipantIds: [BOB, CAROL] }))
        .thenThrows(OnlyCreatorRemovesOthers, 'FORBIDDEN');
    });

    it('lets a non-creator remove themselves (leave the chat)', () => {
      given(teamChat)
        .when(updateChat({ userId: BOB, removeParticipantIds: [BOB], at: at(9) }))
        .then([participantsRemoved({ userIds: [BOB], removedBy: BOB, removedAt: at(9) })]);
    });

    it('ignores removing someone who is not a participant (no events)', () => {
      given(teamChat).when(updateChat({ removeParticipantIds: [MALLORY] })).thenNothing();
    });

    it('ignores a non-creator naming a non-participant for removal (no events, no error)', () => {
      given(teamChat).when(updateChat({ userId: BOB, removeParticipantIds: [MALLORY] })).thenNothing();
    });

    it('ignores removing someone who already left', () => {
      given([...teamChat, participantsRemoved({ userIds: [BOB] })])
        .when(updateChat({ removeParticipantIds: [BOB] }))
        .thenNothing();
    });

    it('rejects an invalid id to remove as InvalidUserId', () => {
      given(teamChat).when(updateChat({ removeParticipantIds: [''] })).thenThrows(InvalidUserId, 'BAD_USER_INPUT');
    });
  });

  it('emits rename, additions and removals together, in that order', () => {
    given(teamChat)
      .when(updateChat({ name: 'Project X', addParticipantIds: [DAVE], removeParticipantIds: [CAROL], at: at(11) }))
      .then([
        chatRenamed({ name: 'Project X', renamedAt: at(11) }),
        participantsAdded({ userIds: [DAVE], addedAt: at(11) }),
        participantsRemoved({ userIds: [CAROL], removedAt: at(11) }),
      ]);
  });

  it('emits nothing when every field is present but changes nothing', () => {
    given(teamChat)
      .when(updateChat({ name: 'Team', addParticipantIds: [BOB], removeParticipantIds: [MALLORY] }))
      .thenNothing();
  });
});
