import { TYPING_LAPSE_MS, TypingBoard, type TypingSignal } from '../../../src/domain';

const CHAT = '9b2f4c1e-0000-4000-8000-000000000001';
const OTHER_CHAT = '9b2f4c1e-0000-4000-8000-000000000002';
const T0 = 1_800_000_000_000;

const typing = (userId: string, at: number, isTyping = true, chatId = CHAT): TypingSignal => ({ chatId, userId, isTyping, at });
const frame = (userId: string, isTyping: boolean, chatId = CHAT) => ({ chatId, userId, isTyping });

/** DESIGN.md §10: who is typing, as a receiver delivers it. */
describe('typing board', () => {
  it('given nobody typing, when alice starts, then the others are told alice is typing', () => {
    const board = new TypingBoard();
    expect(board.heard(typing('alice', T0), T0)).toEqual(frame('alice', true));
  });

  it('given alice typing, when 6 s pass without a renewal, then her typing lapses, once', () => {
    const board = new TypingBoard();
    board.heard(typing('alice', T0), T0);
    expect(board.lapse(T0 + TYPING_LAPSE_MS - 1)).toEqual([]);
    expect(board.lapse(T0 + TYPING_LAPSE_MS)).toEqual([frame('alice', false)]);
    expect(board.lapse(T0 + 2 * TYPING_LAPSE_MS)).toEqual([]);
  });

  it('given alice typing, when she renews it, then the lapse counts from the renewal', () => {
    const board = new TypingBoard();
    board.heard(typing('alice', T0), T0);
    board.heard(typing('alice', T0 + 4000), T0 + 4000);
    expect(board.lapse(T0 + TYPING_LAPSE_MS)).toEqual([]);
    expect(board.lapse(T0 + 4000 + TYPING_LAPSE_MS)).toEqual([frame('alice', false)]);
  });

  it('given alice typing, when she stops, then the stop goes out and nothing lapses later', () => {
    const board = new TypingBoard();
    board.heard(typing('alice', T0), T0);
    expect(board.heard(typing('alice', T0 + 100, false), T0 + 100)).toEqual(frame('alice', false));
    expect(board.lapse(T0 + TYPING_LAPSE_MS * 2)).toEqual([]);
  });

  it('given alice typing, when she posts, then her typing ends at once, and a signal she sent before the post is ignored when it arrives late', () => {
    const board = new TypingBoard();
    board.heard(typing('alice', T0), T0);
    expect(board.posted(CHAT, 'alice', T0 + 500)).toEqual(frame('alice', false));
    // Taken before the post, heard after it: stale.
    expect(board.heard(typing('alice', T0 + 400), T0 + 600)).toBeNull();
    expect(board.lapse(T0 + TYPING_LAPSE_MS * 2)).toEqual([]);
    // Taken after the post: she is typing her next message.
    expect(board.heard(typing('alice', T0 + 700), T0 + 700)).toEqual(frame('alice', true));
  });

  it('given alice not typing, when she posts, then nothing is sent', () => {
    const board = new TypingBoard();
    expect(board.posted(CHAT, 'alice', T0)).toBeNull();
  });

  it('keeps chats and users apart', () => {
    const board = new TypingBoard();
    board.heard(typing('alice', T0), T0);
    board.heard(typing('alice', T0, true, OTHER_CHAT), T0);
    board.heard(typing('bob', T0 + 1000), T0 + 1000);
    expect(board.posted(CHAT, 'alice', T0 + 2000)).toEqual(frame('alice', false));
    expect(board.lapse(T0 + TYPING_LAPSE_MS)).toEqual([frame('alice', false, OTHER_CHAT)]);
    expect(board.lapse(T0 + 1000 + TYPING_LAPSE_MS)).toEqual([frame('bob', false)]);
  });

  it('forgets posts once a signal taken before them would have lapsed anyway, and is then empty', () => {
    const board = new TypingBoard();
    board.posted(CHAT, 'alice', T0);
    expect(board.isEmpty).toBe(false);
    board.lapse(T0 + TYPING_LAPSE_MS + 1);
    expect(board.isEmpty).toBe(true);
  });
});
