import { BackgroundLoop } from '../../../src/infrastructure/system/background-loop';

/**
 * A failing step backs off however often the loop is woken: while Redis is away, every commit wakes the
 * relay, and without the backoff each would start another doomed batch.
 */
describe('BackgroundLoop', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('sleeps out its backoff after a failure even when woken meanwhile, then runs the wake-up it missed', async () => {
    let runs = 0;
    const loop = new BackgroundLoop(
      async () => {
        runs++;
        if (runs <= 2) throw new Error('down');
        return false;
      },
      { name: 'test', pollIntervalMs: 60_000, onError: () => undefined },
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(runs).toBe(1);
    // The first backoff is 100 ms: wake-ups inside it change nothing.
    for (let i = 0; i < 10; i++) {
      loop.wake();
      await jest.advanceTimersByTimeAsync(5);
    }
    expect(runs).toBe(1);
    await jest.advanceTimersByTimeAsync(60);
    expect(runs).toBe(2);
    // The second, 200 ms, likewise; then the step succeeds and the loop waits for the next wake-up.
    loop.wake();
    await jest.advanceTimersByTimeAsync(150);
    expect(runs).toBe(2);
    await jest.advanceTimersByTimeAsync(60);
    expect(runs).toBe(3);
    loop.wake();
    await jest.advanceTimersByTimeAsync(0);
    expect(runs).toBe(4);
    const stopped = loop.stop();
    await jest.advanceTimersByTimeAsync(0);
    await stopped;
  });

  it('stops at once, even in the middle of a backoff', async () => {
    const loop = new BackgroundLoop(async () => {
      throw new Error('down');
    }, { name: 'test', pollIntervalMs: 60_000, onError: () => undefined });
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    const stopped = loop.stop();
    await jest.advanceTimersByTimeAsync(0);
    await expect(stopped).resolves.toBeUndefined();
  });
});
