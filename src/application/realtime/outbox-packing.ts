import type { ChannelMessage } from './channels';

/**
 * How an event's channel messages are stored in its outbox row. One post publishes the same message
 * on three channels (and rows of the release before named the same recipient list on two); storing
 * each copy would make the row, and every page of history, gap fill and relay batch read from it, about
 * three times the size of what it carries. So a value that a message shares with an earlier
 * message of the same event is stored once and referred to as `{ "$ref": [index, "payload" | "userIds"] }`:
 * in place of a whole payload, of a payload's `message`, or of `meta.userIds`.
 *
 * Sharing is detected by identity, as `channelMessagesFor` builds it, never by comparing values.
 * Rows written before this format have no references and read back unchanged.
 */
type Reference = { $ref: [number, 'payload' | 'userIds'] };

export function packChannelMessages(messages: ChannelMessage[]): unknown[] {
  return messages.map((message, index) => {
    const earlier = messages.slice(0, index);
    const sameAs = earlier.findIndex((other) => other.payload === message.payload);
    const nestedIn = earlier.findIndex((other) => other.payload === message.payload.message);
    const userIdsOf = message.meta.userIds ? earlier.findIndex((other) => other.meta.userIds === message.meta.userIds) : -1;
    const payload = sameAs >= 0
      ? reference(sameAs, 'payload')
      : nestedIn >= 0 ? { ...message.payload, message: reference(nestedIn, 'payload') } : message.payload;
    const meta = userIdsOf >= 0 ? { ...message.meta, userIds: reference(userIdsOf, 'userIds') } : message.meta;
    return { channel: message.channel, payload, meta };
  });
}

export function unpackChannelMessages(stored: unknown[]): ChannelMessage[] {
  const messages: ChannelMessage[] = [];
  for (const item of stored as ChannelMessage[]) {
    const payload = unpackPayload(messages, item.payload as unknown);
    const userIds = item.meta.userIds as unknown;
    const meta = isReference(userIds) ? { ...item.meta, userIds: resolve(messages, userIds) as string[] } : item.meta;
    messages.push({ channel: item.channel, payload, meta });
  }
  return messages;
}

function unpackPayload(messages: ChannelMessage[], stored: unknown): Record<string, unknown> {
  if (isReference(stored)) return resolve(messages, stored) as Record<string, unknown>;
  const payload = stored as Record<string, unknown>;
  return isReference(payload.message) ? { ...payload, message: resolve(messages, payload.message) } : payload;
}

function reference(index: number, part: Reference['$ref'][1]): Reference {
  return { $ref: [index, part] };
}

function isReference(value: unknown): value is Reference {
  return typeof value === 'object' && value !== null && Array.isArray((value as Reference).$ref);
}

function resolve(messages: ChannelMessage[], { $ref: [index, part] }: Reference): unknown {
  const target = messages[index];
  if (!target) throw new Error(`outbox row refers to channel message ${index}, which it does not hold`);
  return part === 'payload' ? target.payload : target.meta.userIds;
}

/**
 * Unpacks a row freshly parsed from the database and stamps every payload with the event's cursor,
 * in place: the row's objects are the caller's alone, and a payload shared by several channels is
 * stamped once and stays shared (no copies per message, as readers of a backlog go through many).
 */
export function unpackStamped(stored: unknown[], cursor: string | null): ChannelMessage[] {
  const messages = unpackChannelMessages(stored);
  if (cursor === null) return messages;
  const stamped = new Set<object>();
  const stamp = (payload: Record<string, unknown>) => {
    if (stamped.has(payload)) return;
    stamped.add(payload);
    payload.cursor = cursor;
    const nested = payload.message;
    if (nested && typeof nested === 'object') stamp(nested as Record<string, unknown>);
  };
  for (const message of messages) {
    stamp(message.payload);
    message.meta.cursor = cursor;
  }
  return messages;
}
