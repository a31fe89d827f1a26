import { ParleyError, TYPING_LAPSE_MS, TypingIndicators, type LiveSubscriptionHandlers, type TypingSource } from '../../client';

interface Frame {
  chatId: string;
  userId: string;
  isTyping: boolean;
}

class FakeSource implements TypingSource {
  handlers: LiveSubscriptionHandlers<Frame> | null = null;
  request: { query: string; variables?: Record<string, unknown> } | null = null;
  unsubscribed = false;

  subscribeLive<T>(request: { query: string; variables?: Record<string, unknown> }, handlers: LiveSubscriptionHandlers<T>) {
    this.request = request;
    this.handlers = handlers as unknown as LiveSubscriptionHandlers<Frame>;
    return { unsubscribe: () => (this.unsubscribed = true) };
  }

  frame(userId: string, isTyping: boolean): void {
    this.handlers!.next({ chatId: 'chat-1', userId, isTyping });
  }
}

describe('client: TypingIndicators', () => {
  let source: FakeSource;
  let indicators: TypingIndicators;
  let seen: (readonly string[])[];
  let ended: ParleyError[];

  beforeEach(() => {
    jest.useFakeTimers();
    source = new FakeSource();
    ended = [];
    indicators = new TypingIndicators(
      source,
      'chat-1',
      { setTimeout: (callback, ms) => setTimeout(callback, ms), clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout) },
      { error: (error) => ended.push(error) },
    );
    seen = [];
    indicators.onChange((typists) => seen.push(typists));
  });

  afterEach(() => {
    indicators.close();
    jest.useRealTimers();
  });

  it('subscribes to typingIndicator of its chat, without after or cursor', () => {
    expect(source.request!.variables).toEqual({ chatId: 'chat-1' });
    expect(source.request!.query).toContain('typingIndicator(chatId: $chatId)');
    expect(source.request!.query).not.toMatch(/after|cursor/);
  });

  it('lists typists in the order they started, and removes one on their isTyping: false', () => {
    source.frame('alice', true);
    source.frame('bob', true);
    source.frame('alice', true);
    expect(indicators.typists).toEqual(['alice', 'bob']);
    source.frame('alice', false);
    expect(indicators.typists).toEqual(['bob']);
    // A renewal is no change to tell
    expect(seen).toEqual([['alice'], ['alice', 'bob'], ['bob']]);
  });

  it('lapses a typist 6 s after their last isTyping: true, in case the server\'s false is lost', () => {
    expect(TYPING_LAPSE_MS).toBe(6_000);
    source.frame('alice', true);
    jest.advanceTimersByTime(4_000);
    source.frame('alice', true);
    // 6 s after the first frame, but only 2 s after the renewal
    jest.advanceTimersByTime(2_000);
    expect(indicators.typists).toEqual(['alice']);
    jest.advanceTimersByTime(3_999);
    expect(indicators.typists).toEqual(['alice']);
    jest.advanceTimersByTime(1);
    expect(indicators.typists).toEqual([]);
    expect(seen).toEqual([['alice'], []]);
  });

  it('forgets every typist when the connection is lost: a false sent meanwhile would never arrive', () => {
    source.frame('alice', true);
    source.frame('bob', true);
    source.handlers!.stopped!();
    expect(indicators.typists).toEqual([]);
    // and no lapse fires later for them
    jest.advanceTimersByTime(TYPING_LAPSE_MS);
    expect(seen).toEqual([['alice'], ['alice', 'bob'], []]);
  });

  it('ignores a false for someone not typing', () => {
    source.frame('alice', false);
    expect(seen).toEqual([]);
  });

  it('clears and tells the application when the server ends the subscription', () => {
    source.frame('alice', true);
    const forbidden = new ParleyError([{ message: 'not a participant', extensions: { code: 'FORBIDDEN' } }]);
    source.handlers!.error!(forbidden);
    expect(indicators.typists).toEqual([]);
    expect(ended.map((error) => error.code)).toEqual(['FORBIDDEN']);
  });

  it('unsubscribes on close and leaves no timer behind', () => {
    source.frame('alice', true);
    indicators.close();
    expect(source.unsubscribed).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  });
});
