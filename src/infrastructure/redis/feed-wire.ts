import { isCursor, NO_ROW, parseFeedChannelName, unpackStamped, type ChannelMessage, type EphemeralSignal, type FeedHandlers, type RelayedRecord } from '../../application';

/**
 * The Redis message of one outbox row (DESIGN.md §3; the README documents it), the same on the chat's
 * channel and on the membership channel:
 *
 *   {"position":"<txid>.<id>","previous":"<txid>.<id>","chatId":"…","partition":7,"membership":false,
 *    "cursor":"<txid>.<event position>","messages":[…]}
 *
 * `messages` is the row's channel messages as the outbox stores them (outbox-packing.ts: a value shared by
 * several messages is stored once and referred to by `$ref`), without cursors: a reader stamps every
 * payload with `cursor`. The relay writes the stored text as it is, so a publish costs no parse.
 *
 * A tick is `{"tick":"<txid>.<id>"}` on the partition's tick channel.
 */
export function rowWireText(record: RelayedRecord): string {
  const stored = record.stored;
  const cursor = stored ? stored.cursor : (record.messages[0]?.meta.cursor ?? null);
  const messages = stored ? stored.json : JSON.stringify(record.messages);
  return `{"position":${JSON.stringify(record.position)},"previous":${JSON.stringify(record.previous)},"chatId":${JSON.stringify(record.chatId)},"partition":${record.partition},"membership":${record.membership},"cursor":${JSON.stringify(cursor)},"messages":${messages}}`;
}

export function tickWireText(head: string): string {
  return `{"tick":${JSON.stringify(head)}}`;
}

interface RowWire {
  position: string;
  previous: string;
  chatId: string;
  partition: number;
  membership: boolean;
  cursor: string | null;
  messages: unknown[];
}

/**
 * The record a row message carries, or null when it is not one (anyone may publish on these channels:
 * nothing they send may take a receiver down). Its messages are unpacked on first use.
 */
export function parseRowWire(text: string, partition: number): RelayedRecord | null {
  const wire = JSON.parse(text) as Partial<RowWire> | null;
  if (
    typeof wire !== 'object' || wire === null ||
    typeof wire.position !== 'string' || !isCursor(wire.position) ||
    typeof wire.previous !== 'string' || (wire.previous !== NO_ROW && !isCursor(wire.previous)) ||
    typeof wire.chatId !== 'string' || wire.partition !== partition ||
    typeof wire.membership !== 'boolean' ||
    (wire.cursor !== null && (typeof wire.cursor !== 'string' || !isCursor(wire.cursor))) ||
    !Array.isArray(wire.messages)
  ) {
    return null;
  }
  const stored = wire.messages;
  let messages: ChannelMessage[] | undefined;
  return {
    position: wire.position,
    previous: wire.previous,
    chatId: wire.chatId,
    partition,
    membership: wire.membership,
    get messages() {
      messages ??= unpackStamped(stored, wire.cursor ?? null);
      return messages;
    },
  };
}

export function parseTickWire(text: string): string | null {
  const wire = JSON.parse(text) as { tick?: unknown } | null;
  return typeof wire?.tick === 'string' && isCursor(wire.tick) ? wire.tick : null;
}

/**
 * Hands a message heard on `fullName` to the handlers: a tick, or a row. A name that is not one of our
 * channels, or of a partition the connection does not carry (`carried`), is ignored; a malformed message
 * on one of them throws (the caller reports it and goes on).
 */
export function handFeedMessage(
  prefix: string,
  fullName: string,
  text: string,
  handlers: FeedHandlers,
  carried: (partition: number) => boolean = () => true,
): void {
  const channel = fullName.startsWith(prefix) ? parseFeedChannelName(fullName.slice(prefix.length)) : null;
  if (!channel || !carried(channel.partition)) return;
  if (channel.kind === 'tick') {
    const head = parseTickWire(text);
    if (head === null) throw new Error(`ignored a malformed tick on ${fullName}`);
    handlers.tick(channel.partition, head);
    return;
  }
  if (channel.kind === 'chat' && isSignalWire(text)) {
    const signal = parseSignalWire(text, channel.chatId);
    if (!signal) throw new Error(`ignored a malformed signal on ${fullName}`);
    handlers.signal?.(channel.partition, channel.chatId, signal);
    return;
  }
  const record = parseRowWire(text, channel.partition);
  if (!record || (channel.kind === 'chat' && record.chatId !== channel.chatId) || (channel.kind === 'members' && !record.membership)) {
    throw new Error(`ignored a malformed message on ${fullName}`);
  }
  handlers.row(record);
}

/**
 * An ephemeral signal on a chat's channel (DESIGN.md §10; the README documents it):
 *   {"signal":"typing","chatId":"…","userId":"…","isTyping":true,"at":1765000000000}
 *   {"signal":"presence","userId":"…","online":false,"lastSeenAt":"2026-…Z","version":7}
 */
export function signalWireText(chatId: string, signal: EphemeralSignal): string {
  if (signal.kind === 'typing') {
    const { userId, isTyping, at } = signal.typing;
    return JSON.stringify({ signal: 'typing', chatId, userId, isTyping, at });
  }
  const { userId, online, lastSeenAt, version } = signal.presence;
  return JSON.stringify({ signal: 'presence', userId, online, lastSeenAt, version });
}

/** Whether a message on a chat's channel is a signal rather than a row (rows start with `{"position"`). */
export function isSignalWire(text: string): boolean {
  return text.startsWith('{"signal":');
}

/** The signal a message carries, or null when it is malformed (anyone may publish on these channels). */
export function parseSignalWire(text: string, chatId: string): EphemeralSignal | null {
  const wire = JSON.parse(text) as Record<string, unknown> | null;
  if (typeof wire !== 'object' || wire === null || typeof wire.userId !== 'string') return null;
  if (wire.signal === 'typing') {
    if (wire.chatId !== chatId || typeof wire.isTyping !== 'boolean' || typeof wire.at !== 'number' || !Number.isFinite(wire.at)) return null;
    return { kind: 'typing', typing: { chatId, userId: wire.userId, isTyping: wire.isTyping, at: wire.at } };
  }
  if (wire.signal === 'presence') {
    const lastSeenAt = wire.lastSeenAt;
    if (typeof wire.online !== 'boolean' || !Number.isSafeInteger(wire.version)) return null;
    if (lastSeenAt !== null && (typeof lastSeenAt !== 'string' || Number.isNaN(Date.parse(lastSeenAt)))) return null;
    return { kind: 'presence', presence: { userId: wire.userId, online: wire.online, lastSeenAt, version: wire.version as number } };
  }
  return null;
}
