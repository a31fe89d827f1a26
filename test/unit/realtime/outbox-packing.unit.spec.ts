import { channelMessagesFor, packChannelMessages, unpackChannelMessages } from '../../../src/application';
import { evolveChat, initialChatState, type ChatEvent } from '../../../src/domain';

const CHAT = '00000000-0000-4000-8000-000000000001';
const AT = '2026-12-01T00:00:00.000Z';
const created: ChatEvent = { type: 'ChatCreated', data: { chatId: CHAT, name: 'n', participantIds: ['alice', 'bob', 'carol'], createdBy: 'alice', createdAt: AT } };
const chat = evolveChat(initialChatState(CHAT), created);

describe('outbox packing', () => {
  it('stores a post once for its three channels and reads back exactly what was packed', () => {
    // Given the channel messages of a post
    const posted: ChatEvent = {
      type: 'MessagePosted',
      data: { chatId: CHAT, messageId: 'm1', senderId: 'alice', content: 'x'.repeat(5000), seq: 1, clientMessageId: null, postedAt: AT },
    };
    const messages = channelMessagesFor(posted, { eventId: 'e1', occurredAt: AT, chat });

    // When they are packed for the outbox (through JSON, as PostgreSQL stores them) and read back
    const stored = JSON.stringify(packChannelMessages(messages));
    const read = unpackChannelMessages(JSON.parse(stored));

    // Then the content is stored once and what is read equals what was packed
    expect(stored.split('x'.repeat(5000)).length - 1).toBe(1);
    expect(read).toEqual(messages);
  });

  it('stores a chat payload once when an addition sends it on two channels', () => {
    const added: ChatEvent = { type: 'ParticipantsAdded', data: { chatId: CHAT, userIds: ['dave'], addedBy: 'alice', addedAt: AT } };
    const messages = channelMessagesFor(added, { eventId: 'e2', occurredAt: AT, chat: evolveChat(chat, added), lastMessage: null });
    const stored = JSON.stringify(packChannelMessages(messages));
    expect(stored.split('"participantIds"').length - 1).toBe(1);
    expect(unpackChannelMessages(JSON.parse(stored))).toEqual(messages);
  });

  it('reads rows written before packing unchanged', () => {
    const legacy = [{ channel: 'messageDeleted', payload: { id: 'm1', chatId: CHAT }, meta: { eventId: 'e3', cursor: '', chatId: CHAT, occurredAt: AT } }];
    expect(unpackChannelMessages(JSON.parse(JSON.stringify(legacy)))).toEqual(legacy);
  });
});
