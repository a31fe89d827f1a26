import { reconnectDelay } from '../../client';

describe('client: reconnectDelay (exponential backoff with equal jitter)', () => {
  const options = { initialMs: 100, maxMs: 1000, resetAfterMs: 5000 };

  it('doubles the ceiling per failed attempt up to the maximum', () => {
    const ceiling = (attempt: number) => reconnectDelay(attempt, options, () => 1);
    expect([0, 1, 2, 3, 4, 5, 50].map(ceiling)).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('draws the wait between half the ceiling and the ceiling', () => {
    expect(reconnectDelay(2, options, () => 0)).toBe(200);
    expect(reconnectDelay(2, options, () => 0.5)).toBe(300);
    expect(reconnectDelay(2, options, () => 0.999)).toBe(400);
  });

  it('spreads clients that were dropped together', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const waits = new Set(Array.from({ length: 50 }, () => reconnectDelay(3, options, random)));
    expect(waits.size).toBeGreaterThan(30);
    for (const wait of waits) expect(wait).toBeGreaterThanOrEqual(400);
  });
});
