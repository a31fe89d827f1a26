import { channelMessagesFor, packChannelMessages, unpackStamped, unreadCountMessage, type ChannelMessage } from '../../../src/application';
import { evolveChat, initialChatState, type ChatEvent } from '../../../src/domain';
import { splicedWireMessages } from '../../../src/infrastructure/redis/wire-splice';
import { WireWriter } from '../../../src/infrastructure/redis/wire-writer';

const CHAT = '00000000-0000-4000-8000-000000000001';
const AT = '2026-12-01T00:00:00.000Z';
const created: ChatEvent = { type: 'ChatCreated', data: { chatId: CHAT, name: 'n "quoted" \\ }{', participantIds: ['alice', 'bob', 'carol'], createdBy: 'alice', createdAt: AT } };
const chat = evolveChat(initialChatState(CHAT), created);
/** Content a client may send: quotes, backslashes, brackets, text that looks like our own markers. */
const HOSTILE = 'a "b" \\"c\\" }]{[ ,"meta":{"cursor":""} {"$ref":[0,"payload"]} \u00e9\u{1f600} \n\t\\\\';

function post(content: string, seq = 1): ChatEvent {
  return { type: 'MessagePosted', data: { chatId: CHAT, messageId: `m${seq}`, senderId: 'alice', content, seq, clientMessageId: null, postedAt: AT } };
}

/** Every event type's channel messages, as the write path packs them. */
function everyKindOfRow(): Array<{ name: string; messages: ChannelMessage[] }> {
  const added: ChatEvent = { type: 'ParticipantsAdded', data: { chatId: CHAT, userIds: ['dave'], addedBy: 'alice', addedAt: AT } };
  const removed: ChatEvent = { type: 'ParticipantsRemoved', data: { chatId: CHAT, userIds: ['bob'], removedBy: 'alice', removedAt: AT } };
  const events: Array<[string, ChatEvent, typeof chat]> = [
    ['post', post(HOSTILE), chat],
    ['edit', { type: 'MessageEdited', data: { chatId: CHAT, messageId: 'm1', senderId: 'alice', seq: 1, content: HOSTILE, postedAt: AT, editedAt: AT } }, chat],
    ['delete', { type: 'MessageDeleted', data: { chatId: CHAT, messageId: 'm1', senderId: 'alice', seq: 1, deletedAt: AT } }, chat],
    ['read', { type: 'MessageRead', data: { chatId: CHAT, messageId: 'm1', userId: 'bob', seq: 1, readAt: AT } }, chat],
    ['create', created, chat],
    ['add', added, evolveChat(chat, added)],
    ['remove', removed, evolveChat(chat, removed)],
    ['rename', { type: 'ChatRenamed', data: { chatId: CHAT, name: HOSTILE, renamedBy: 'alice', renamedAt: AT } }, chat],
  ];
  const lastMessage = { id: 'm1', chatId: CHAT, senderId: 'alice', content: HOSTILE, seq: 1, createdAt: AT, isEdited: false, editedAt: null };
  return events.map(([name, event, after]) => ({ name, messages: channelMessagesFor(event, { eventId: `e-${name}`, occurredAt: AT, chat: after, lastMessage }) }));
}

/** As PostgreSQL prints a jsonb value: keys by length, then bytes; ", " and ": " between. */
function asJsonb(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(asJsonb).join(', ')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const keys = Object.keys(value).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((key) => `${JSON.stringify(key)}: ${asJsonb((value as Record<string, unknown>)[key])}`).join(', ')}}`;
}

/** The wire messages as the parsed path writes them: parse, unpack, stamp, serialise. */
function parsedPath(stored: string, cursor: string | null, ordering: { position: string; previous?: string }) {
  const messages = unpackStamped(JSON.parse(stored) as unknown[], cursor);
  const record = { ...ordering, messages };
  const writer = new WireWriter();
  return messages.map((message, index) => ({ channel: message.channel, text: writer.message(record, message, index) }));
}

function asObjects(wire: Array<{ channel: string; text: string }>) {
  return wire.map(({ channel, text }) => ({ channel, message: JSON.parse(text) as unknown }));
}

describe('wire messages spliced from the stored text', () => {
  const layouts: Array<[string, (value: unknown) => string]> = [
    ['as PostgreSQL prints jsonb', asJsonb],
    ['compact', (value) => JSON.stringify(value)],
    ['indented', (value) => JSON.stringify(value, null, 2)],
  ];

  for (const [layout, print] of layouts) {
    for (const { name, messages } of everyKindOfRow()) {
      it(`are the parsed path's messages for a ${name} row laid out ${layout}`, () => {
        // Given a stored row and where the relay publishes it
        const stored = print(packChannelMessages(messages));
        const ordering = { position: '12.40', previous: '12.39' };

        // When the relay writes its wire messages from the text
        const spliced = splicedWireMessages(stored, '12.40', ordering);

        // Then they are, message for message, what parsing and serialising would have sent
        expect(spliced).not.toBeNull();
        expect(asObjects(spliced!)).toEqual(asObjects(parsedPath(stored, '12.40', ordering)));
      });
    }
  }

  it('stamp every payload and nested message of a post with the cursor, and lay out meta last', () => {
    const stored = asJsonb(packChannelMessages(everyKindOfRow()[0]!.messages));
    const wire = splicedWireMessages(stored, '7.9', { position: '7.9' })!;
    expect(wire.map((m) => m.channel)).toEqual(['messageAdded', 'chatMessageNotification', 'messageUpdateForChatList']);
    for (const { channel, text } of wire) {
      // The receiver reads meta from the text's end without parsing the payload (redis-transport.adapter.ts).
      expect(text.startsWith(`{${JSON.stringify(channel)}:`)).toBe(true);
      const meta = JSON.parse(text.slice(text.lastIndexOf(',"meta":') + 8, -1)) as Record<string, unknown>;
      expect(meta).toMatchObject({ cursor: '7.9', position: '7.9', count: 3 });
      const payload = (JSON.parse(text) as Record<string, Record<string, unknown>>)[channel]!;
      expect(payload.cursor).toBe('7.9');
      if (channel !== 'messageAdded') expect(payload.message).toMatchObject({ cursor: '7.9', content: HOSTILE });
    }
    expect(JSON.parse(wire[2]!.text).meta.userIds).toEqual(['bob', 'carol']);
  });

  it('leave a derived row with its own cursor when the row has no event to stamp it with', () => {
    const stored = asJsonb(packChannelMessages([unreadCountMessage(CHAT, 'bob', 3, '5.5', AT)]));
    const spliced = splicedWireMessages(stored, null, { position: '6.1', previous: '6.0' });
    expect(asObjects(spliced!)).toEqual(asObjects(parsedPath(stored, null, { position: '6.1', previous: '6.0' })));
    expect(JSON.parse(spliced![0]!.text).meta).toMatchObject({ cursor: '5.5', position: '6.1', previous: '6.0', index: 0, count: 1 });
  });

  it('write rows stored before packing (no references) as they are', () => {
    const legacy = JSON.stringify([{ channel: 'messageDeleted', payload: { id: 'm1', chatId: CHAT }, meta: { eventId: 'e3', cursor: '', chatId: CHAT, occurredAt: AT } }]);
    expect(asObjects(splicedWireMessages(legacy, '1.2', { position: '1.2' })!)).toEqual(asObjects(parsedPath(legacy, '1.2', { position: '1.2' })));
    // A post stored whole: each list item holds its own copy of the message, stamped too.
    const wholePost = asJsonb(everyKindOfRow()[0]!.messages);
    const spliced = splicedWireMessages(wholePost, '1.3', { position: '1.3' })!;
    expect(asObjects(spliced)).toEqual(asObjects(parsedPath(wholePost, '1.3', { position: '1.3' })));
    expect(JSON.parse(spliced[1]!.text).chatMessageNotification.message.cursor).toBe('1.3');
  });

  it('give up, for the parsed path to decide, on a row not laid out as stored rows are', () => {
    const ordering = { position: '1.2' };
    expect(splicedWireMessages('{"channel": "messageAdded"}', '1.2', ordering)).toBeNull();
    expect(splicedWireMessages('[{"channel": "messageAdded", "payload": {}}]', '1.2', ordering)).toBeNull();
    expect(splicedWireMessages('[{"channel": "messageAdded", "payload": "text", "meta": {}}]', '1.2', ordering)).toBeNull();
    expect(splicedWireMessages('[{"channel": "messageAdded", "payload": {}, "meta": "text"}]', '1.2', ordering)).toBeNull();
    // A reference to a message the row does not hold: the parsed path throws for it, as it always did.
    const dangling = '[{"channel": "messageUpdateForChatList", "payload": {"$ref": [3, "payload"]}, "meta": {"cursor": ""}}]';
    expect(splicedWireMessages(dangling, '1.2', ordering)).toBeNull();
    expect(() => parsedPath(dangling, '1.2', ordering)).toThrow();
  });
});
