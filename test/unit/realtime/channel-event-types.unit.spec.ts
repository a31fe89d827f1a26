import { CHANNELS, channelMessagesFor, EVENT_TYPES_BY_CHANNEL, type ChannelContext } from '../../../src/application';
import type { ChatEvent } from '../../../src/domain';

const CHAT = { chatId: 'c1', name: 'n', participantIds: ['alice', 'bob'], createdBy: 'alice', createdAt: '2026-12-01T00:00:00.000Z' };
const AT = '2026-12-01T00:00:00.000Z';

/** One event of every type, as the domain writes them. */
const EVENTS: ChatEvent[] = [
  { type: 'ChatCreated', data: CHAT },
  { type: 'ChatRenamed', data: { chatId: 'c1', name: 'm', renamedAt: AT } },
  { type: 'ParticipantsAdded', data: { chatId: 'c1', userIds: ['carol'], addedAt: AT } },
  { type: 'ParticipantsRemoved', data: { chatId: 'c1', userIds: ['bob'], removedAt: AT } },
  { type: 'MessagePosted', data: { chatId: 'c1', messageId: 'm1', senderId: 'alice', content: 'hi', seq: 1, clientMessageId: null, postedAt: AT } },
  { type: 'MessageEdited', data: { chatId: 'c1', messageId: 'm1', senderId: 'alice', content: 'ho', seq: 1, postedAt: AT, editedAt: AT } },
  { type: 'MessageDeleted', data: { chatId: 'c1', messageId: 'm1', senderId: 'alice', seq: 1, deletedAt: AT } },
  { type: 'MessageRead', data: { chatId: 'c1', messageId: 'm1', userId: 'bob', seq: 1, readAt: AT } },
] as unknown as ChatEvent[];

/**
 * CURSOR_EXPIRED is judged by the event types that feed a subscription's channel
 * (channel-event-types.ts): the table must say exactly what channelMessagesFor publishes.
 */
describe('the event types of each channel', () => {
  it('are those whose channel messages include the channel', () => {
    const context: ChannelContext = { eventId: 'e1', occurredAt: AT, chat: { ...CHAT, participantIds: ['alice', 'bob', 'carol'] } as never, lastMessage: null };
    const published = Object.fromEntries(CHANNELS.map((channel) => [channel, new Set<string>()]));
    for (const event of EVENTS) for (const message of channelMessagesFor(event, context)) published[message.channel]!.add(event.type);
    for (const channel of CHANNELS) expect([channel, [...published[channel]!].sort()]).toEqual([channel, [...EVENT_TYPES_BY_CHANNEL[channel]].sort()]);
  });
});
