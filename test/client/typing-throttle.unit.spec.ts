import { TYPING_RENEW_MS, TypingThrottle } from '../../client';

/** A send whose answers the test gives, one by one, so "one request in flight per chat" can be seen. */
class ControlledSend {
  readonly sent: { chatId: string; isTyping: boolean }[] = [];
  private readonly answers: { resolve(): void; reject(error: unknown): void }[] = [];

  readonly send = (chatId: string, isTyping: boolean): Promise<unknown> => {
    this.sent.push({ chatId, isTyping });
    return new Promise<void>((resolve, reject) => this.answers.push({ resolve, reject }));
  };

  get inFlight(): number {
    return this.answers.length;
  }

  /** Answers the oldest request and lets the throttle's continuation run. */
  async answer(outcome: 'ok' | Error = 'ok'): Promise<void> {
    const next = this.answers.shift()!;
    if (outcome === 'ok') next.resolve();
    else next.reject(outcome);
    // The throttle awaits the answer, then sends what was queued: a few microtasks, no clock.
    for (let turn = 0; turn < 5; turn++) await Promise.resolve();
  }
}

describe('client: TypingThrottle', () => {
  let clock: number;
  let wire: ControlledSend;
  let reported: unknown[];
  let throttle: TypingThrottle;

  beforeEach(() => {
    clock = 1_000_000;
    wire = new ControlledSend();
    reported = [];
    throttle = new TypingThrottle(wire.send, () => clock, (error) => reported.push(error));
  });

  const values = () => wire.sent.map(({ isTyping }) => isTyping);

  it('sends "typing" on the first keystroke and then at most once every 2 s, however fast the keys come', async () => {
    // Given a user typing 20 keys a second for 5 s
    for (let at = 0; at <= 5_000; at += 50) {
      clock = 1_000_000 + at;
      throttle.typing('chat-1');
      if (wire.inFlight > 0) await wire.answer();
    }
    // Then "true" went out at 0, 2 and 4 s: once per renewal interval
    expect(TYPING_RENEW_MS).toBe(2_000);
    expect(values()).toEqual([true, true, true]);
  });

  it('renews at exactly the interval, not a millisecond before', async () => {
    throttle.typing('chat-1');
    await wire.answer();
    clock += TYPING_RENEW_MS - 1;
    throttle.typing('chat-1');
    expect(values()).toEqual([true]);
    clock += 1;
    throttle.typing('chat-1');
    expect(values()).toEqual([true, true]);
  });

  it('sends "stopped" at once and starts the throttle over, so the next keystroke says "typing" again at once', async () => {
    throttle.typing('chat-1');
    await wire.answer();
    clock += 300;
    throttle.stopTyping('chat-1');
    expect(values()).toEqual([true, false]);
    await wire.answer();
    clock += 100;
    throttle.typing('chat-1');
    expect(values()).toEqual([true, false, true]);
  });

  it('sends no "stopped" when nothing said "typing" since the last stop', async () => {
    throttle.stopTyping('chat-1');
    expect(values()).toEqual([]);
    throttle.typing('chat-1');
    await wire.answer();
    throttle.stopTyping('chat-1');
    await wire.answer();
    throttle.stopTyping('chat-1');
    expect(values()).toEqual([true, false]);
  });

  it('keeps one request in flight per chat: a "stopped" waits for the "typing" before it, so it cannot be overtaken', async () => {
    // Given "typing" in flight and not yet answered
    throttle.typing('chat-1');
    throttle.stopTyping('chat-1');
    // Then "stopped" is not sent yet…
    expect(values()).toEqual([true]);
    // …and goes once "typing" is answered
    await wire.answer();
    expect(values()).toEqual([true, false]);
  });

  it('sends only the latest wish once the request in flight is answered', async () => {
    throttle.typing('chat-1');
    throttle.stopTyping('chat-1');
    throttle.typing('chat-1');
    await wire.answer();
    // "stopped" was overtaken by typing again before it went out: only "typing" follows
    expect(values()).toEqual([true, true]);
  });

  it('throttles each chat on its own', () => {
    throttle.typing('chat-1');
    throttle.typing('chat-2');
    throttle.typing('chat-1');
    expect(wire.sent).toEqual([
      { chatId: 'chat-1', isTyping: true },
      { chatId: 'chat-2', isTyping: true },
    ]);
  });

  it('reports a failed send and goes on: the next wish is sent', async () => {
    throttle.typing('chat-1');
    throttle.stopTyping('chat-1');
    const failure = new Error('offline');
    await wire.answer(failure);
    expect(reported).toEqual([failure]);
    expect(values()).toEqual([true, false]);
  });
});
