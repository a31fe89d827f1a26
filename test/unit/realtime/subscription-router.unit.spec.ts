import { parse } from 'graphql';
import type { ChannelMessage } from '../../../src/application';
import { createGraphQLSchema } from '../../../src/interfaces/graphql/create-yoga';
import type { GraphQLContext } from '../../../src/interfaces/graphql/graphql-context';
import { SUBSCRIPTION_FIELDS } from '../../../src/interfaces/realtime/subscription-fields';
import { Subscription, type ClientError, type FrameSink, type PayloadGroup } from '../../../src/interfaces/realtime/subscription';
import { SubscriptionRouter } from '../../../src/interfaces/realtime/subscription-router';

const schema = createGraphQLSchema();
const QUERY = 'subscription($c: ID!) { messageAdded(chatId: $c) { id content seq cursor } }';

function group(chatId: string, query = QUERY): PayloadGroup {
  return { key: `${query}|${chatId}`, members: 0, document: parse(query), operationName: null, variables: { c: chatId }, fieldName: 'messageAdded', positionCursor: false };
}

class Sink implements FrameSink {
  readonly frames: string[] = [];
  /** What `send` was given, to see which frames are one shared encoding. */
  readonly sent: (string | Buffer)[] = [];
  readonly errors: { id: string; errors: ClientError[] }[] = [];
  readonly released: Subscription[] = [];
  /** While set, the client is "not reading": paced senders must wait on it. */
  blocked: { promise: Promise<void>; open: () => void } | null = null;
  constructor(readonly viewerId: string) {}
  send(frame: string | Buffer): void {
    this.sent.push(frame);
    this.frames.push(String(frame));
  }
  writable(): Promise<void> | null {
    return this.blocked?.promise ?? null;
  }
  sendError(id: string, errors: ClientError[]): void {
    this.errors.push({ id, errors });
  }
  release(subscription: Subscription): void {
    this.released.push(subscription);
  }
  block(): void {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.blocked = { promise, open: () => ((this.blocked = null), open()) };
  }
}

function added(chatId: string, seq: number): ChannelMessage {
  return {
    channel: 'messageAdded',
    payload: { id: `m${seq}`, chatId, senderId: 'alice', content: `hello ${seq}`, seq, createdAt: '2026-11-25T00:00:00.000Z', isEdited: false, editedAt: null, cursor: `1.${seq}` },
    meta: { eventId: `e${seq}`, cursor: `1.${seq}`, chatId, seq, occurredAt: '2026-11-25T00:00:00.000Z' },
  };
}

describe('SubscriptionRouter', () => {
  let executions: number;
  let router: SubscriptionRouter;
  let logged: unknown[];
  let unreadCountOf: GraphQLContext['unreadCountOf'];

  beforeEach(() => {
    executions = 0;
    logged = [];
    unreadCountOf = async () => 0;
    router = new SubscriptionRouter({
      schema,
      contextFor: (viewerId) => {
        executions++;
        return { viewer: { userId: viewerId }, unreadCountOf: (chatId, userId) => unreadCountOf!(chatId, userId) } as GraphQLContext;
      },
      onError: (error) => logged.push(error),
    });
  });

  function subscribe(chatId: string, viewer: string, id = '1', shared = group(chatId)): Sink {
    const sink = new Sink(viewer);
    router.add(new Subscription(id, sink, SUBSCRIPTION_FIELDS.messageAdded!, shared, { chatId }, chatId, null));
    return sink;
  }

  it('executes and serialises a payload once for every subscriber that shares the operation', async () => {
    const shared = group('chat-a');
    const sinks = Array.from({ length: 1000 }, (_, i) => subscribe('chat-a', `user-${i}`, `s${i}`, shared));
    router.receive({ messages: [added('chat-a', 1)] });
    await router.enqueue(() => undefined);
    expect(executions).toBe(1);
    expect(sinks.every((sink) => sink.frames.length === 1)).toBe(true);
    expect(JSON.parse(sinks[7]!.frames[0]!)).toEqual({
      id: 's7',
      type: 'next',
      payload: { data: { messageAdded: { id: 'm1', content: 'hello 1', seq: 1, cursor: '1.1' } } },
    });
  });

  it('encodes a group’s frame once per subscription id, and shares those bytes among its subscribers', async () => {
    const shared = group('chat-a');
    const sameId = Array.from({ length: 3 }, (_, i) => subscribe('chat-a', `user-${i}`, '1', shared));
    const otherId = subscribe('chat-a', 'user-9', '2', shared);
    router.receive({ messages: [added('chat-a', 1)] });
    await router.enqueue(() => undefined);
    const [first, ...rest] = sameId.map((sink) => sink.sent[0]);
    expect(Buffer.isBuffer(first)).toBe(true);
    expect(rest.every((frame) => frame === first)).toBe(true);
    expect(otherId.sent[0]).not.toBe(first);
    expect(JSON.parse(otherId.frames[0]!)).toMatchObject({ id: '2', type: 'next' });
    expect(JSON.parse(sameId[2]!.frames[0]!)).toMatchObject({ id: '1', payload: { data: { messageAdded: { seq: 1 } } } });
  });

  it('touches only the subscribers of the event’s chat, however many watch other chats', async () => {
    const target = subscribe('chat-a', 'bob');
    const elsewhere = Array.from({ length: 500 }, (_, i) => subscribe(`chat-${i}`, `user-${i}`));
    router.receive({ messages: [added('chat-a', 1)] });
    await router.enqueue(() => undefined);
    expect(target.frames).toHaveLength(1);
    expect(elsewhere.every((sink) => sink.frames.length === 0)).toBe(true);
    expect(executions).toBe(1);
  });

  it('drops a record seen before and a message at or before what a subscriber already got', async () => {
    const sink = subscribe('chat-a', 'bob');
    router.receive({ messages: [added('chat-a', 1)] });
    router.receive({ messages: [added('chat-a', 1)] });
    router.receive({ messages: [added('chat-a', 2)] });
    await router.enqueue(() => undefined);
    expect(sink.frames.map((frame) => JSON.parse(frame).payload.data.messageAdded.seq)).toEqual([1, 2]);
  });

  it('holds live messages while a subscriber replays history, then sends only what history did not', async () => {
    const sink = new Sink('bob');
    const subscription = new Subscription('r', sink, SUBSCRIPTION_FIELDS.messageAdded!, group('chat-a'), { chatId: 'chat-a' }, 'chat-a', '1.0');
    subscription.pending = [];
    router.add(subscription);
    router.receive({ messages: [added('chat-a', 2)] });
    router.receive({ messages: [added('chat-a', 3)] });
    await router.enqueue(() => undefined);
    expect(sink.frames).toHaveLength(0);
    await router.sendTo(subscription, added('chat-a', 1));
    await router.sendTo(subscription, added('chat-a', 2));
    await router.goLive(subscription);
    expect(sink.frames.map((frame) => JSON.parse(frame).payload.data.messageAdded.seq)).toEqual([1, 2, 3]);
  });

  it('sends what was held no faster than the client reads, without holding up other subscribers', async () => {
    // Given a resuming subscriber with three messages held for it, whose client is not reading right now
    const sink = new Sink('bob');
    const subscription = new Subscription('r', sink, SUBSCRIPTION_FIELDS.messageAdded!, group('chat-a'), { chatId: 'chat-a' }, 'chat-a', '1.0');
    subscription.pending = [];
    router.add(subscription);
    for (const seq of [1, 2, 3]) router.receive({ messages: [added('chat-a', seq)] });
    const other = subscribe('chat-b', 'carol', 'o');
    sink.block();

    // When it goes live
    const live = router.goLive(subscription);
    router.receive({ messages: [added('chat-b', 4)] });
    await router.enqueue(() => undefined);

    // Then nothing goes out to it until its client reads, while others are served meanwhile
    expect(sink.frames).toHaveLength(0);
    expect(other.frames).toHaveLength(1);
    sink.blocked!.open();
    await live;
    router.receive({ messages: [added('chat-a', 5)] });
    await router.enqueue(() => undefined);
    expect(sink.frames.map((frame) => JSON.parse(frame).payload.data.messageAdded.seq)).toEqual([1, 2, 3, 5]);
  });

  it('does not count a payload that failed as sent: the subscription ends with a code and no internal detail', async () => {
    // Given a chatAdded subscriber, whose payload needs its unread count, while the database fails
    const query = 'subscription { chatAdded { id name unreadCount cursor } }';
    const sink = new Sink('bob');
    const chatGroup: PayloadGroup = { key: `${query}|bob`, members: 0, document: parse(query), operationName: null, variables: {}, fieldName: 'chatAdded', positionCursor: false };
    const subscription = new Subscription('c', sink, SUBSCRIPTION_FIELDS.chatAdded!, chatGroup, {}, 'bob', null);
    router.add(subscription);
    unreadCountOf = async () => {
      throw new Error('connection to 10.0.0.5:5432 lost (password=hunter2)');
    };
    const chat: ChannelMessage = {
      channel: 'chatAdded',
      payload: { id: 'chat-a', name: 'pair', participantIds: ['alice', 'bob'], createdBy: 'alice', createdAt: '2026-11-25T00:00:00.000Z', updatedAt: '2026-11-25T00:00:00.000Z', lastMessage: null, cursor: '1.1' },
      meta: { eventId: 'e1', cursor: '1.1', chatId: 'chat-a', occurredAt: '2026-11-25T00:00:00.000Z', userIds: ['bob'] },
    };

    // When the event is delivered
    router.receive({ messages: [chat] });
    await router.enqueue(() => undefined);

    // Then no frame carries it, the subscription is over with an error that has a code and no detail,
    // the cause is logged, and the event is still new to the subscription (it comes again on resume)
    expect(sink.frames).toEqual([]);
    expect(sink.errors).toEqual([{ id: 'c', errors: [{ message: expect.any(String), extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }]);
    expect(JSON.stringify(sink.errors)).not.toMatch(/hunter2|10\.0\.0\.5/);
    expect(sink.released).toEqual([subscription]);
    expect(router.size).toBe(0);
    expect(logged).toHaveLength(1);
    expect(subscription.isNew(chat)).toBe(true);
  });
});
