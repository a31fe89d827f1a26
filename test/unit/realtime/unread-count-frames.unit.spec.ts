import type { ChannelMessage, ChatReadModel, RelayedRecord, UnreadCountView } from '../../../src/application';
import { UnreadCountFrames } from '../../../src/interfaces/realtime/unread-count-frames';
import type { SubscriptionRouter } from '../../../src/interfaces/realtime/subscription-router';
import { eventually } from '../../support/eventually';

const CHAT = '00000000-0000-4000-8000-000000000001';

/** A post as the relay carries it; reading its payload (the content) is recorded. */
function post(position: string, payloadRead: { count: number }): Pick<RelayedRecord, 'messages'> {
  const meta = { eventId: `e${position}`, cursor: position, chatId: CHAT, seq: 1, occurredAt: '2026-12-02T00:00:00.000Z' };
  const added: ChannelMessage = {
    channel: 'messageAdded',
    meta,
    get payload() {
      payloadRead.count++;
      return { senderId: 'alice', content: 'hi' };
    },
  } as ChannelMessage;
  const notification = { channel: 'chatMessageNotification', meta: { ...meta, userIds: ['bob'] }, payload: {} } as ChannelMessage;
  return { messages: [added, notification] };
}

function setup(listeners: string[]) {
  const reads: (string[] | 'all')[] = [];
  const delivered: ChannelMessage[] = [];
  const router = {
    listensTo: (channel: string) => channel === 'unreadCountUpdated' && listeners.length > 0,
    hasSubscribers: (channel: string, userId: string) => channel === 'unreadCountUpdated' && listeners.includes(userId),
    deliverLocal: async (messages: ChannelMessage[]) => void delivered.push(...messages),
  } as unknown as SubscriptionRouter;
  const readModel = {
    unreadCountsIn: async (chatId: string, users: string[] | 'all'): Promise<UnreadCountView[]> => {
      reads.push(users);
      return (users === 'all' ? listeners : users).map((userId) => ({ chatId, userId, unreadCount: 1, cursor: '1.1' }) as UnreadCountView);
    },
  } as unknown as ChatReadModel;
  return { frames: new UnreadCountFrames({ router, readModel, onError: () => undefined }), reads, delivered };
}

describe('unreadCountUpdated frames made by a receiver', () => {
  it('given nobody here listens to unread counts, reads nothing and leaves the post’s payload unparsed', async () => {
    const payloadRead = { count: 0 };
    const { frames, reads } = setup([]);
    frames.follow(post('1.1', payloadRead));
    await Promise.resolve();
    expect(reads).toEqual([]);
    expect(payloadRead.count).toBe(0);
  });

  it('given bob listens here, reads the counts of the post’s affected users who listen and sends bob’s', async () => {
    const payloadRead = { count: 0 };
    const { frames, reads, delivered } = setup(['bob']);
    frames.follow(post('1.1', payloadRead));
    await eventually(() => expect(delivered).toHaveLength(1));
    expect(reads).toEqual([['bob']]);
    expect(delivered[0]!.meta.userIds).toEqual(['bob']);
  });
});
