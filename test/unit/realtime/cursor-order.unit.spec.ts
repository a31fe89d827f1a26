import { compareCursors, decodeCursor, isCursor } from '../../../src/application';

/** The order by value, independently of the code under test: each cursor as one number, tx * 2^64 + position. */
function byNumbers(a: string, b: string): number {
  const value = (cursor: string) => {
    const [tx, position] = cursor.split('.').map(BigInt) as [bigint, bigint];
    return tx * 2n ** 64n + position;
  };
  const difference = value(a) - value(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

describe('compareCursors', () => {
  it('given cursors as the server writes them, then it orders by transaction, then position, as numbers', () => {
    expect(compareCursors('9.100', '10.1')).toBe(-1);
    expect(compareCursors('10.1', '9.100')).toBe(1);
    expect(compareCursors('10.9', '10.10')).toBe(-1);
    expect(compareCursors('10.10', '10.10')).toBe(0);
    expect(compareCursors('0.0', '0.1')).toBe(-1);
    expect(compareCursors('0.0', '0.0')).toBe(0);
    expect(compareCursors('9223372036854775807.1', '999.2')).toBe(1);
  });

  it('given a cursor with leading zeros (a client may send one), then it still compares by value', () => {
    expect(compareCursors('010.5', '10.5')).toBe(0);
    expect(compareCursors('10.05', '10.4')).toBe(1);
    expect(compareCursors('00.0', '0.0')).toBe(0);
    expect(compareCursors('9.1', '0010.1')).toBe(-1);
  });

  it('agrees with the numeric order on many pairs of mixed shapes', () => {
    const parts = ['0', '1', '7', '9', '10', '11', '99', '100', '101', '1000', '123456789', '0123', '007', '00'];
    const cursors = parts.flatMap((tx) => parts.map((position) => `${tx}.${position}`));
    for (const a of cursors) for (const b of cursors) expect([a, b, compareCursors(a, b)]).toEqual([a, b, byNumbers(a, b)]);
  });
});

describe('isCursor and decodeCursor', () => {
  it('accept cursors whose parts are digits within the bigint bound, and nothing else', () => {
    const max = '9223372036854775807';
    const valid = ['0.0', '1.2', '010.5', `${max}.${max}`, `${max}.0`, `0${max}.1`, '00000000000000000001.1'];
    const invalid = [
      '9223372036854775808.1', `1.${max.slice(0, -1)}8`, '99999999999999999999.1', '000000000000000000001.1', '1.', '.1', '1.2.3', '', 'a.1', '1.-1', ' 1.1', '1.1 ', '１.1',
    ];
    for (const candidate of valid) expect([candidate, isCursor(candidate), decodeCursor(candidate) !== null]).toEqual([candidate, true, true]);
    for (const candidate of invalid) expect([candidate, isCursor(candidate), decodeCursor(candidate)]).toEqual([candidate, false, null]);
    expect(decodeCursor(`0${max}.010`)).toEqual({ txId: 2n ** 63n - 1n, position: 10n });
  });
});
