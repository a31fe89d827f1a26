/**
 * Where the values of a JSON text begin and end, found without building them. The relay writes stored
 * JSON out again with a few members changed; reading the whole text into objects and serialising it
 * back was most of its work per event (a third of its time in the parse, the copy and the collector).
 *
 * Only for text that is valid JSON (PostgreSQL's output of a jsonb column): it finds boundaries, it
 * does not validate. Callers check the shape they expect and take another path when it is not there.
 */

/** `[start, end)` of one value in the text. */
export interface Span {
  start: number;
  end: number;
}

export interface Member extends Span {
  key: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

export function skipSpace(text: string, at: number): number {
  let i = at;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** Just past the closing quote of the string whose opening quote is at `at`. */
function skipString(text: string, at: number): number {
  let i = at;
  for (;;) {
    i = text.indexOf('"', i + 1);
    if (i < 0) throw new SyntaxError('unterminated string in JSON text');
    // A quote ends the string unless an odd number of backslashes escapes it.
    let slashes = 0;
    while (text.charCodeAt(i - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return i + 1;
  }
}

/** Just past the value that begins at `at` (no leading space). */
export function skipValue(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === QUOTE) return skipString(text, at);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    let i = at;
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c) || c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) return i;
      i++;
    }
  }
  let depth = 0;
  let i = at;
  for (;;) {
    const c = text.charCodeAt(i);
    if (Number.isNaN(c)) throw new SyntaxError('unterminated value in JSON text');
    if (c === QUOTE) {
      i = skipString(text, i);
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth === 0) return i + 1;
    i++;
  }
}

/** The members of the object whose `{` is at `at`, in text order; null when no object starts there. */
export function objectMembers(text: string, at: number): Member[] | null {
  if (text.charCodeAt(at) !== OPEN_BRACE) return null;
  const members: Member[] = [];
  let i = skipSpace(text, at + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return members;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return null;
    const keyEnd = skipString(text, i);
    const rawKey = text.slice(i + 1, keyEnd - 1);
    const key = rawKey.includes('\\') ? (JSON.parse(text.slice(i, keyEnd)) as string) : rawKey;
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return null;
    const start = skipSpace(text, i + 1);
    const end = skipValue(text, start);
    members.push({ key, start, end });
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACE) return members;
    if (c !== COMMA) return null;
    i = skipSpace(text, i + 1);
  }
}

/** The elements of the array whose `[` is at `at`; null when no array starts there. */
export function arrayElements(text: string, at: number): Span[] | null {
  if (text.charCodeAt(at) !== OPEN_BRACKET) return null;
  const elements: Span[] = [];
  let i = skipSpace(text, at + 1);
  if (text.charCodeAt(i) === CLOSE_BRACKET) return elements;
  for (;;) {
    const end = skipValue(text, i);
    elements.push({ start: i, end });
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACKET) return elements;
    if (c !== COMMA) return null;
    i = skipSpace(text, i + 1);
  }
}

/** The object at `span` with some members' values replaced and others appended (values as JSON text). */
export function withMembers(text: string, span: Span, members: Member[], changes: Map<string, string>): string {
  let out = '';
  let from = span.start;
  const appended = new Map(changes);
  for (const member of members) {
    const value = changes.get(member.key);
    if (value === undefined) continue;
    out += text.slice(from, member.start) + value;
    from = member.end;
    appended.delete(member.key);
  }
  const close = text.lastIndexOf('}', span.end - 1);
  out += text.slice(from, close);
  let first = members.length === 0;
  for (const [key, value] of appended) {
    out += `${first ? '' : ','}${JSON.stringify(key)}:${value}`;
    first = false;
  }
  return `${out}}`;
}
