/**
 * One grapheme cluster, so one character by count, of 12001 bytes of UTF-8: 'a' and 6000 combining
 * marks. The marks vary (a fixed pseudo-random sequence over U+0300..U+036F) so that PostgreSQL cannot
 * compress the value into an index row: a run of one mark repeated compresses to a few bytes and is
 * stored, while this one is refused with 54000 (index row too large), as real input can be.
 */
export const HUGE_GRAPHEME = hugeGrapheme(6000);

function hugeGrapheme(marks: number): string {
  let state = 7;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648);
  return 'a' + Array.from({ length: marks }, () => String.fromCharCode(0x300 + (next() % 0x70))).join('');
}
