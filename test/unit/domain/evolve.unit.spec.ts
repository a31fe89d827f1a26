import { evolveChat, evolveMessage, initialChatState, type ChatState, type MessageState } from '../../../src/domain';
import {
  ALICE,
  BOB,
  CAROL,
  CHAT,
  DAVE,
  ERIN,
  at,
  chatCreated,
  chatRenamed,
  messageDeleted,
  messageEdited,
  messagePosted,
  messageRead,
  participantsAdded,
  participantsRemoved,
} from './fixtures';
import { chatStateAfter, messageStateAfter } from './given-when-then';

/** The default chat right after it was created: "Team", by ALICE, with BOB and CAROL. */
function createdChat(): ChatState {
  return {
    exists: true,
    chatId: CHAT,
    name: 'Team',
    participantIds: [ALICE, BOB, CAROL],
    createdBy: ALICE,
    createdAt: at(0),
    updatedAt: at(0),
    lastSeq: 0,
    readMarks: {},
  };
}

describe('evolveChat', () => {
  it('starts from a chat that does not exist', () => {
    expect(initialChatState(CHAT)).toStrictEqual({
      exists: false,
      chatId: CHAT,
      name: '',
      participantIds: [],
      createdBy: '',
      createdAt: '',
      updatedAt: '',
      lastSeq: 0,
      readMarks: {},
    });
  });

  it('ChatCreated makes the chat exist with its name, participants, creator and times', () => {
    expect(evolveChat(initialChatState(CHAT), chatCreated())).toStrictEqual(createdChat());
  });

  it('ChatCreated copies the participant list rather than sharing the event’s array', () => {
    const event = chatCreated();
    const state = evolveChat(initialChatState(CHAT), event);
    event.data.participantIds.push(DAVE);
    expect(state.participantIds).toStrictEqual([ALICE, BOB, CAROL]);
  });

  it('ChatRenamed changes the name and updatedAt only', () => {
    expect(evolveChat(createdChat(), chatRenamed({ name: 'Project X', renamedAt: at(5) }))).toStrictEqual({
      ...createdChat(),
      name: 'Project X',
      updatedAt: at(5),
    });
  });

  it('ParticipantsAdded appends the new participants and moves updatedAt', () => {
    expect(evolveChat(createdChat(), participantsAdded({ userIds: [DAVE, ERIN], addedAt: at(5) }))).toStrictEqual({
      ...createdChat(),
      participantIds: [ALICE, BOB, CAROL, DAVE, ERIN],
      updatedAt: at(5),
    });
  });

  it('ParticipantsRemoved forgets the read marks of those removed, so a returning participant starts afresh', () => {
    const read = evolveChat(evolveChat(createdChat(), messagePosted({ senderId: BOB, seq: 1 })), messageRead({ userId: CAROL, seq: 1 }));
    const state = evolveChat(read, participantsRemoved({ userIds: [CAROL], removedAt: at(5) }));
    expect(Object.keys(state.readMarks)).toEqual([BOB]);
  });

  it('ParticipantsRemoved drops the removed participants and moves updatedAt', () => {
    expect(evolveChat(createdChat(), participantsRemoved({ userIds: [BOB, CAROL], removedAt: at(5) }))).toStrictEqual({
      ...createdChat(),
      participantIds: [ALICE],
      updatedAt: at(5),
    });
  });

  it("MessagePosted sets lastSeq and moves the sender's read mark to the new message", () => {
    const state = evolveChat(createdChat(), messagePosted({ messageId: 'm-1', senderId: BOB, seq: 1, postedAt: at(5) }));
    expect(state).toStrictEqual({
      ...createdChat(),
      lastSeq: 1,
      readMarks: { [BOB]: { seq: 1, messageId: 'm-1', readAt: at(5) } },
    });
  });

  it("MessagePosted leaves other participants' read marks alone", () => {
    const state = chatStateAfter(CHAT, [
      chatCreated(),
      messagePosted({ messageId: 'm-1', senderId: BOB, seq: 1, postedAt: at(5) }),
      messagePosted({ messageId: 'm-2', senderId: CAROL, seq: 2, postedAt: at(6) }),
    ]);
    expect(state.lastSeq).toBe(2);
    expect(state.readMarks).toStrictEqual({
      [BOB]: { seq: 1, messageId: 'm-1', readAt: at(5) },
      [CAROL]: { seq: 2, messageId: 'm-2', readAt: at(6) },
    });
  });

  it("MessageRead moves the reader's mark forward", () => {
    const state = evolveChat(createdChat(), messageRead({ userId: CAROL, messageId: 'm-3', seq: 3, readAt: at(7) }));
    expect(state).toStrictEqual({
      ...createdChat(),
      readMarks: { [CAROL]: { seq: 3, messageId: 'm-3', readAt: at(7) } },
    });
  });

  it('MessageRead of an older message never moves the mark back', () => {
    const marked = evolveChat(createdChat(), messageRead({ userId: CAROL, messageId: 'm-3', seq: 3, readAt: at(7) }));
    const after = evolveChat(marked, messageRead({ userId: CAROL, messageId: 'm-1', seq: 1, readAt: at(8) }));
    expect(after.readMarks[CAROL]).toStrictEqual({ seq: 3, messageId: 'm-3', readAt: at(7) });
  });

  it('MessageRead of the same message again keeps the first receipt (same readAt)', () => {
    const marked = evolveChat(createdChat(), messageRead({ userId: CAROL, messageId: 'm-3', seq: 3, readAt: at(7) }));
    const after = evolveChat(marked, messageRead({ userId: CAROL, messageId: 'm-3', seq: 3, readAt: at(9) }));
    expect(after.readMarks[CAROL]).toStrictEqual({ seq: 3, messageId: 'm-3', readAt: at(7) });
  });

  it("MessageRead of an older message never moves back a mark set by the reader's own post", () => {
    const state = chatStateAfter(CHAT, [
      chatCreated(),
      messagePosted({ messageId: 'm-1', senderId: ALICE, seq: 1 }),
      messagePosted({ messageId: 'm-2', senderId: BOB, seq: 2, postedAt: at(5) }),
      messageRead({ userId: BOB, messageId: 'm-1', seq: 1, readAt: at(6) }),
    ]);
    expect(state.readMarks[BOB]).toStrictEqual({ seq: 2, messageId: 'm-2', readAt: at(5) });
  });

  it('MessageEdited leaves the chat state unchanged', () => {
    const before = chatStateAfter(CHAT, [chatCreated(), messagePosted()]);
    expect(evolveChat(before, messageEdited())).toStrictEqual(before);
  });

  it('MessageDeleted leaves the chat state unchanged (lastSeq is never reused)', () => {
    const before = chatStateAfter(CHAT, [chatCreated(), messagePosted()]);
    expect(evolveChat(before, messageDeleted())).toStrictEqual(before);
  });

  it('never mutates the state it is given', () => {
    const before = createdChat();
    const snapshot = structuredClone(before);
    for (const event of [
      chatRenamed(),
      participantsAdded(),
      participantsRemoved(),
      messagePosted(),
      messageRead(),
      messageEdited(),
      messageDeleted(),
    ]) {
      evolveChat(before, event);
    }
    expect(before).toStrictEqual(snapshot);
  });
});

describe('evolveMessage', () => {
  const posted: MessageState = {
    messageId: 'm-1',
    chatId: CHAT,
    senderId: BOB,
    seq: 1,
    content: 'hello',
    clientMessageId: 'c-1',
    postedAt: at(2),
    deleted: false,
  };

  it('MessagePosted creates the message state', () => {
    expect(evolveMessage(null, messagePosted({ clientMessageId: 'c-1' }))).toStrictEqual(posted);
  });

  it('MessageEdited replaces the content and keeps everything else', () => {
    expect(evolveMessage(posted, messageEdited({ content: 'hello again' }))).toStrictEqual({
      ...posted,
      content: 'hello again',
    });
  });

  it('MessageDeleted marks the message deleted', () => {
    expect(evolveMessage(posted, messageDeleted())).toStrictEqual({ ...posted, deleted: true });
  });

  it('folds posted, edited and deleted in order', () => {
    expect(
      messageStateAfter([messagePosted({ clientMessageId: 'c-1' }), messageEdited({ content: 'v2' }), messageDeleted()]),
    ).toStrictEqual({ ...posted, content: 'v2', deleted: true });
  });

  it('MessageEdited or MessageDeleted without a posted message stay null', () => {
    expect(evolveMessage(null, messageEdited())).toBeNull();
    expect(evolveMessage(null, messageDeleted())).toBeNull();
  });

  it('MessageRead and chat-level events leave the message unchanged', () => {
    for (const event of [messageRead(), chatCreated(), chatRenamed(), participantsAdded(), participantsRemoved()]) {
      expect(evolveMessage(posted, event)).toStrictEqual(posted);
    }
  });

  it('never mutates the state it is given', () => {
    const before = { ...posted };
    evolveMessage(before, messageEdited({ content: 'changed' }));
    evolveMessage(before, messageDeleted());
    expect(before).toStrictEqual(posted);
  });
});
