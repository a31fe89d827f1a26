import { parse } from 'graphql';
import type { ChannelMessage } from '../../../src/application';
import { createGraphQLSchema } from '../../../src/interfaces/graphql/create-yoga';
import type { GraphQLContext } from '../../../src/interfaces/graphql/graphql-context';
import { SUBSCRIPTION_FIELDS } from '../../../src/interfaces/realtime/subscription-fields';
import { routeKey, Subscription, type FrameSink, type PayloadGroup } from '../../../src/interfaces/realtime/subscription';
import { SubscriptionRouter } from '../../../src/interfaces/realtime/subscription-router';

const schema = createGraphQLSchema();
const QUERY = 'subscription($c: ID!) { messageAdded(chatId: $c) { id content seq cursor } }';

function group(chatId: string, query = QUERY): PayloadGroup {
  return { key: `${query}|${chatId}`, document: parse(query), operationName: null, variables: { c: chatId }, fieldName: 'messageAdded' };
}

class Sink implements FrameSink {
  readonly frames: string[] = [];
  constructor(readonly viewerId: string) {}
  send(frame: string): void {
    this.frames.push(frame);
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

  beforeEach(() => {
    executions = 0;
    router = new SubscriptionRouter({
      schema,
      contextFor: (viewerId) => {
        executions++;
        return { viewer: { userId: viewerId } } as GraphQLContext;
      },
      revoke: () => undefined,
      onError: (error) => {
        throw error;
      },
    });
  });

  function subscribe(chatId: string, viewer: string, id = '1', shared = group(chatId)): Sink {
    const sink = new Sink(viewer);
    router.add(new Subscription(id, sink, SUBSCRIPTION_FIELDS.messageAdded!, shared, { chatId }, routeKey('messageAdded', chatId), null));
    return sink;
  }

  it('executes and serialises a payload once for every subscriber that shares the operation', async () => {
    const shared = group('chat-a');
    const sinks = Array.from({ length: 1000 }, (_, i) => subscribe('chat-a', `user-${i}`, `s${i}`, shared));
    router.receive({ position: '1.1', messages: [added('chat-a', 1)] });
    await router.enqueue(() => undefined);
    expect(executions).toBe(1);
    expect(sinks.every((sink) => sink.frames.length === 1)).toBe(true);
    expect(JSON.parse(sinks[7]!.frames[0]!)).toEqual({
      id: 's7',
      type: 'next',
      payload: { data: { messageAdded: { id: 'm1', content: 'hello 1', seq: 1, cursor: '1.1' } } },
    });
  });

  it('touches only the subscribers of the event’s chat, however many watch other chats', async () => {
    const target = subscribe('chat-a', 'bob');
    const elsewhere = Array.from({ length: 500 }, (_, i) => subscribe(`chat-${i}`, `user-${i}`));
    router.receive({ position: '1.1', messages: [added('chat-a', 1)] });
    await router.enqueue(() => undefined);
    expect(target.frames).toHaveLength(1);
    expect(elsewhere.every((sink) => sink.frames.length === 0)).toBe(true);
    expect(executions).toBe(1);
  });

  it('drops a record seen before and a message at or before what a subscriber already got', async () => {
    const sink = subscribe('chat-a', 'bob');
    router.receive({ position: '1.1', messages: [added('chat-a', 1)] });
    router.receive({ position: '1.1', messages: [added('chat-a', 1)] });
    router.receive({ position: '1.2', messages: [added('chat-a', 2)] });
    await router.enqueue(() => undefined);
    expect(sink.frames.map((frame) => JSON.parse(frame).payload.data.messageAdded.seq)).toEqual([1, 2]);
  });

  it('holds live messages while a subscriber replays history, then sends only what history did not', async () => {
    const sink = new Sink('bob');
    const subscription = new Subscription('r', sink, SUBSCRIPTION_FIELDS.messageAdded!, group('chat-a'), { chatId: 'chat-a' }, routeKey('messageAdded', 'chat-a'), '1.0');
    subscription.pending = [];
    router.add(subscription);
    router.receive({ position: '1.2', messages: [added('chat-a', 2)] });
    router.receive({ position: '1.3', messages: [added('chat-a', 3)] });
    await router.enqueue(() => undefined);
    expect(sink.frames).toHaveLength(0);
    await router.sendTo(subscription, added('chat-a', 1));
    await router.sendTo(subscription, added('chat-a', 2));
    await router.goLive(subscription);
    expect(sink.frames.map((frame) => JSON.parse(frame).payload.data.messageAdded.seq)).toEqual([1, 2, 3]);
  });
});
