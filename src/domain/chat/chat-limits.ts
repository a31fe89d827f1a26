/** The limits of DESIGN.md §5, in one place so that errors and docs quote the same numbers. */
export const CHAT_LIMITS = {
  contentMaxChars: 4000,
  nameMaxChars: 200,
  maxParticipants: 1000,
  userIdMaxChars: 128,
  clientMessageIdMaxChars: 128,
} as const;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Length in user-perceived characters (grapheme clusters): 👍🏽 or a flag counts as one, as a person
 * typing it would count, not as the two to eleven UTF-16 units it is made of.
 */
export function charCount(text: string): number {
  let count = 0;
  for (const _ of graphemes.segment(text)) count++;
  return count;
}
