import { decide, decisionNeeds, type ChatCommand, type ChatEvent, type ChatState, type DecisionState } from '../../../src/domain';
import {
  ALICE,
  BOB,
  CAROL,
  MALLORY,
  at,
  chatCreated,
  deleteMessage,
  editMessage,
  markMessageRead,
  messageDeleted,
  messagePosted,
  messageRead,
  participantsAdded,
  participantsRemoved,
  postMessage,
  updateChat,
  userIds,
} from './fixtures';
import { chatStateAfter, messageStateAfter } from './given-when-then';

/**
 * A store loads only what `decisionNeeds` names (a post to a chat of 1000 reads one member, not
 * 1000: DESIGN.md §2 "Cost"). That is safe only if `decide` answers the same on a state restricted
 * to those members as on the whole chat: same events, or the same rule broken.
 */
describe('decisionNeeds: deciding on only what the command needs changes nothing', () => {
  const crowd = userIds(997);
  const history: ChatEvent[] = [
    chatCreated({ participantIds: [ALICE, BOB, CAROL, ...crowd] }),
    messagePosted({ messageId: 'm-1', senderId: BOB, seq: 1, clientMessageId: 'tap-1' }),
    messagePosted({ messageId: 'm-2', senderId: ALICE, seq: 2, postedAt: at(2) }),
    messageRead({ messageId: 'm-1', userId: CAROL, seq: 1 }),
    messagePosted({ messageId: 'm-3', senderId: BOB, seq: 3, postedAt: at(3) }),
    messageDeleted({ messageId: 'm-3', seq: 3, deletedAt: at(5) }),
    participantsRemoved({ userIds: [crowd[0]!], removedBy: crowd[0]!, removedAt: at(6) }),
    participantsAdded({ userIds: [crowd[0]!], addedAt: at(7) }),
    participantsRemoved({ userIds: [crowd[0]!], removedBy: crowd[0]!, removedAt: at(8) }),
  ];

  const commands: [string, ChatCommand][] = [
    ['a post', postMessage({ userId: CAROL, messageId: 'm-9', content: 'hi' })],
    ['a post by an outsider', postMessage({ userId: MALLORY, messageId: 'm-9' })],
    ['a post by a member who left', postMessage({ userId: crowd[0]!, messageId: 'm-9' })],
    ['a retried post', postMessage({ userId: BOB, messageId: 'm-9', clientMessageId: 'tap-1' })],
    ['a post with a new clientMessageId', postMessage({ userId: BOB, messageId: 'm-9', clientMessageId: 'tap-2' })],
    ['an edit of one’s own message', editMessage({ userId: BOB, messageId: 'm-1', content: 'better' })],
    ['an edit of someone else’s message', editMessage({ userId: CAROL, messageId: 'm-1' })],
    ['an edit of a deleted message', editMessage({ userId: BOB, messageId: 'm-3' })],
    ['a deletion', deleteMessage({ userId: ALICE, messageId: 'm-2' })],
    ['a repeated deletion', deleteMessage({ userId: BOB, messageId: 'm-3' })],
    ['a read that moves the mark', markMessageRead({ userId: CAROL, messageId: 'm-2' })],
    ['a read behind the mark', markMessageRead({ userId: CAROL, messageId: 'm-1' })],
    ['a read by a member of the crowd', markMessageRead({ userId: crowd[5]!, messageId: 'm-2' })],
    ['an update', updateChat({ addParticipantIds: [crowd[0]!], removeParticipantIds: [crowd[1]!] })],
  ];

  it.each(commands)('decides %s the same on the needed members alone', (_, command) => {
    const full = stateFor(command, history);
    const needed = restrict(full, decisionNeeds(command).members);
    expect(outcome(command, needed)).toEqual(outcome(command, full));
  });

  it('needs one member for a post, whatever the size of the chat, and every member only to update it', () => {
    expect(decisionNeeds(postMessage({ userId: BOB, clientMessageId: 'tap' }))).toEqual({
      members: [BOB],
      messageId: null,
      previousPost: { senderId: BOB, clientMessageId: 'tap' },
    });
    expect(decisionNeeds(markMessageRead({ userId: CAROL, messageId: 'm-2' }))).toEqual({ members: [CAROL], messageId: 'm-2', previousPost: null });
    expect(decisionNeeds(updateChat()).members).toBe('all');
    // An id that decide refuses anyway is not looked up.
    expect(decisionNeeds(postMessage({ clientMessageId: '\u0000' })).previousPost).toBeNull();
  });
});

function stateFor(command: ChatCommand, events: ChatEvent[]): DecisionState {
  const chat = chatStateAfter(command.chatId, events);
  const messageId = 'messageId' in command ? command.messageId : null;
  if (command.type === 'PostMessage') {
    const earlier = events.find((e) => e.type === 'MessagePosted' && e.data.senderId === command.userId && e.data.clientMessageId != null && e.data.clientMessageId === command.clientMessageId);
    const id = earlier?.type === 'MessagePosted' ? earlier.data.messageId : null;
    return { chat, previousPost: id ? messageStateAfter(events.filter((e) => 'messageId' in e.data && e.data.messageId === id)) : null };
  }
  if (messageId) return { chat, message: messageStateAfter(events.filter((e) => 'messageId' in e.data && e.data.messageId === messageId)) };
  return { chat };
}

/** The state as a store that loaded only these members sees it. */
function restrict(state: DecisionState, members: 'all' | readonly string[]): DecisionState {
  if (members === 'all') return state;
  const keep = (id: string) => members.includes(id);
  const chat: ChatState = {
    ...state.chat,
    participantIds: state.chat.participantIds.filter(keep),
    readMarks: Object.fromEntries(Object.entries(state.chat.readMarks).filter(([id]) => keep(id))),
  };
  return { ...state, chat };
}

function outcome(command: ChatCommand, state: DecisionState): unknown {
  try {
    return { events: decide(command, state) };
  } catch (error) {
    return { error: (error as Error).name, code: (error as { code?: string }).code };
  }
}
