/**
 * Measures and checks of user text, written out by hand because the domain uses no node built-ins
 * (no Buffer, no TextEncoder): see .dependency-cruiser.cjs.
 */

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Length in user-perceived characters (grapheme clusters): 👍🏽 or a flag counts as one, as a person
 * typing it would count, not as the two to eleven UTF-16 units it is made of.
 */
export function charCount(text: string): number {
  // Printable ASCII is one character per unit, and most text is just that: no segmenter needed.
  if (isPrintableAscii(text)) return text.length;
  let count = 0;
  for (const _ of graphemes.segment(text)) count++;
  return count;
}

/**
 * Why the text is not 1..maxChars characters and at most maxBytes bytes of UTF-8, or null when it is.
 * Bytes first: they are cheap to count, and they bound the work of counting graphemes (one grapheme
 * can be any size: 'a' and 6000 combining marks are one character of 12001 bytes).
 */
export function sizeProblem(text: string, maxChars: number, maxBytes: number): string | null {
  const bytes = utf8ByteLength(text);
  if (bytes > maxBytes) return `must be at most ${maxBytes} bytes of UTF-8 (got ${bytes})`;
  const length = charCountOutside(text, maxChars);
  if (length !== null) return `must be 1..${maxChars} characters (got ${length})`;
  return null;
}

/**
 * The length in characters when it is outside 1..max, else null. A character is at least one UTF-16
 * unit, so text of 1..max units is inside without counting: the segmenter costs about a microsecond
 * per character, and most text never needs it.
 */
export function charCountOutside(text: string, max: number): number | null {
  if (text.length === 0) return 0;
  if (text.length <= max) return null;
  const length = charCount(text);
  return length > max ? length : null;
}

/** Bytes of the text in UTF-8 (an unpaired surrogate counts 3, as the U+FFFD an encoder writes for it). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * False when the text holds a NUL or an unpaired surrogate: PostgreSQL stores neither in a text
 * column (nor in jsonb), so such input must be refused as bad input, never reach the database.
 */
export function isStorableText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit === 0) return false;
    if (isHighSurrogate(unit)) {
      if (!isLowSurrogate(text.charCodeAt(i + 1))) return false;
      i++;
    } else if (isLowSurrogate(unit)) return false;
  }
  return true;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

function isPrintableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x20 || unit > 0x7e) return false;
  }
  return true;
}
