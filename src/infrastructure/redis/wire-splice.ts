import { arrayElements, objectMembers, skipSpace, skipValue, withMembers, type Member, type Span } from './json-spans';

/** One message of a record as it goes to Redis: its channel (without prefix) and its wire text. */
export interface WireText {
  channel: string;
  text: string;
}

interface Resolved {
  /** The payload as JSON text, references resolved and cursor stamped. */
  payload: string;
  /** `meta.userIds` as JSON text, references resolved; undefined when the message has none. */
  userIds: string | undefined;
}

/**
 * The wire messages of an outbox row (DESIGN.md §3: `{ "<channel>": payload, "meta": {…} }`) written
 * straight from its stored JSON text: the same messages `unpackStamped` and `WireWriter` make from the
 * parsed row (references of outbox-packing.ts resolved, every payload and nested message stamped with
 * the cursor, meta given the cursor and the relay's ordering fields), but by copying spans of the text
 * instead of building objects and serialising them again.
 *
 * Null when the text is not laid out as stored rows are; the caller then takes the parsed path, which
 * fails or succeeds as it always did.
 */
export function splicedWireMessages(
  stored: string,
  cursor: string | null,
  ordering: { position: string; previous?: string },
): WireText[] | null {
  const elements = arrayElements(stored, 0);
  if (!elements) return null;
  const cursorJson = cursor === null ? undefined : JSON.stringify(cursor);
  const positionJson = JSON.stringify(ordering.position);
  const previousJson = ordering.previous === undefined ? undefined : JSON.stringify(ordering.previous);
  const resolved: Resolved[] = [];
  const wire: WireText[] = [];
  for (const [index, element] of elements.entries()) {
    const parts = storedMessage(stored, element);
    if (!parts) return null;
    const payload = payloadText(stored, parts.payload, resolved, cursorJson);
    const metaParts = metaText(stored, parts.meta, resolved, cursorJson);
    if (payload === null || metaParts === null) return null;
    resolved.push({ payload, userIds: metaParts.userIds });
    const ordered = `"position":${positionJson}${previousJson === undefined ? '' : `,"previous":${previousJson}`},"index":${index},"count":${elements.length}}`;
    wire.push({ channel: parts.channel, text: `{${JSON.stringify(parts.channel)}:${payload},"meta":${metaParts.open}${ordered}}` });
  }
  return wire;
}

/**
 * The meta object without its closing brace, ready for more members (`open`), with the cursor set and
 * `userIds` resolved. Stored meta is flat (strings, numbers, arrays of ids), so the common case finds
 * its two members by their keys: in JSON text, `"cursor"` followed by a colon can only be a key.
 */
function metaText(text: string, span: Span, resolved: Resolved[], cursorJson: string | undefined): { open: string; userIds: string | undefined } | null {
  if (text.charCodeAt(span.start) !== 0x7b) return null;
  if (!within(text, { start: span.start + 1, end: span.end }, '{')) {
    const cursor = keyedValue(text, span, 'cursor');
    const userIds = keyedValue(text, span, 'userIds');
    const close = text.lastIndexOf('}', span.end - 1);
    const empty = isEmptyObject(text, span);
    const body = cursorJson === undefined
      ? text.slice(span.start, close)
      : cursor
        ? text.slice(span.start, cursor.start) + cursorJson + text.slice(cursor.end, close)
        : `${text.slice(span.start, close)}${empty ? '' : ','}"cursor":${cursorJson}`;
    return {
      open: empty && cursorJson === undefined ? body : `${body},`,
      userIds: userIds ? text.slice(userIds.start, userIds.end) : undefined,
    };
  }
  const members = objectMembers(text, span.start);
  if (!members) return null;
  const stored = members.find((m) => m.key === 'userIds');
  const userIds = stored ? valueText(text, stored, resolved, 'userIds') : undefined;
  if (userIds === null) return null;
  const changes = new Map<string, string>();
  if (cursorJson !== undefined) changes.set('cursor', cursorJson);
  if (userIds !== undefined) changes.set('userIds', userIds);
  const whole = withMembers(text, span, members, changes);
  return { open: `${whole.slice(0, -1)}${whole === '{}' ? '' : ','}`, userIds };
}

/** The value of the member `key` of the flat object at `span`, found by its key's text. */
function keyedValue(text: string, span: Span, key: string): Span | null {
  const quoted = `"${key}"`;
  for (let at = text.indexOf(quoted, span.start); at >= 0 && at < span.end; at = text.indexOf(quoted, at + 1)) {
    const colon = skipSpace(text, at + quoted.length);
    if (text.charCodeAt(colon) !== 0x3a) continue;
    const start = skipSpace(text, colon + 1);
    return { start, end: skipValue(text, start) };
  }
  return null;
}

function isEmptyObject(text: string, span: Span): boolean {
  return text.charCodeAt(skipSpace(text, span.start + 1)) === 0x7d;
}

/** Whether `needle` occurs within the span. */
function within(text: string, span: Span, needle: string): boolean {
  const at = text.indexOf(needle, span.start);
  return at >= 0 && at < span.end;
}

interface StoredParts {
  channel: string;
  meta: Span;
  payload: Span;
}

/** `{ "channel", "payload", "meta" }` of one stored channel message, in any order. */
function storedMessage(text: string, element: Span): StoredParts | null {
  const members = objectMembers(text, element.start);
  const channel = members?.find((m) => m.key === 'channel');
  const meta = members?.find((m) => m.key === 'meta');
  const payload = members?.find((m) => m.key === 'payload');
  if (!channel || !meta || !payload || text.charCodeAt(channel.start) !== 0x22) return null;
  return { channel: JSON.parse(text.slice(channel.start, channel.end)) as string, meta, payload };
}

/** A payload as unpackStamped leaves it: a reference resolved, or the object stamped (and its nested message). */
function payloadText(text: string, span: Span, resolved: Resolved[], cursorJson: string | undefined): string | null {
  if (text.charCodeAt(span.start) !== 0x7b) return null;
  // Most payloads hold no reference, nested message or cursor (a quoted key's text cannot occur inside
  // a string, where quotes are escaped): the cursor goes last, and nothing else is looked at.
  if (!within(text, span, '"$ref"') && !within(text, span, '"message"') && !within(text, span, '"cursor"')) {
    if (cursorJson === undefined) return text.slice(span.start, span.end);
    const close = text.lastIndexOf('}', span.end - 1);
    return `${text.slice(span.start, close)}${isEmptyObject(text, span) ? '' : ','}"cursor":${cursorJson}}`;
  }
  const members = objectMembers(text, span.start);
  if (!members) return null;
  const target = reference(text, members);
  if (target) return target.part === 'payload' ? (resolved[target.index]?.payload ?? null) : null;
  const nested = members.find((m) => m.key === 'message');
  const nestedMembers = nested && objectMembers(text, nested.start);
  if (!nested || !nestedMembers) return stamped(text, span, members, cursorJson);
  const nestedTarget = reference(text, nestedMembers);
  if (!nestedTarget) return stamped(text, span, members, cursorJson);
  const nestedText = nestedTarget.part === 'payload' ? resolved[nestedTarget.index]?.payload : undefined;
  if (nestedText === undefined) return null;
  return withMembers(text, span, members, changes(cursorJson, nestedText));
}

/** An object with the cursor set, and set in its nested `message` object too, as unpackStamped's `stamp` does. */
function stamped(text: string, span: Span, members: Member[], cursorJson: string | undefined): string {
  if (cursorJson === undefined) return text.slice(span.start, span.end);
  const nested = members.find((m) => m.key === 'message');
  const nestedMembers = nested && objectMembers(text, nested.start);
  const nestedText = nested && nestedMembers ? stamped(text, nested, nestedMembers, cursorJson) : undefined;
  return withMembers(text, span, members, changes(cursorJson, nestedText));
}

function changes(cursorJson: string | undefined, message: string | undefined): Map<string, string> {
  const map = new Map<string, string>();
  if (message !== undefined) map.set('message', message);
  if (cursorJson !== undefined) map.set('cursor', cursorJson);
  return map;
}

/** A value that may be a reference to an earlier message's part. */
function valueText(text: string, span: Span, resolved: Resolved[], part: 'userIds'): string | null {
  const members = objectMembers(text, span.start);
  const target = members && reference(text, members);
  if (!target) return text.slice(span.start, span.end);
  return target.part === part ? (resolved[target.index]?.userIds ?? null) : null;
}

/** `{ "$ref": [index, part] }`, as outbox-packing.ts writes it (an object with an array `$ref`). */
function reference(text: string, members: Member[]): { index: number; part: string } | null {
  const ref = members.find((m) => m.key === '$ref');
  if (!ref || text.charCodeAt(ref.start) !== 0x5b) return null;
  const [index, part] = JSON.parse(text.slice(ref.start, ref.end)) as [unknown, unknown];
  return Number.isInteger(index) && typeof part === 'string' ? { index: index as number, part } : { index: -1, part: '' };
}
