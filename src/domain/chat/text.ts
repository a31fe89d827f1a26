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
