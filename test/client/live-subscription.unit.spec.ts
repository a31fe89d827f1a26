import type { Client as SocketClient, FormattedExecutionResult, Sink, SubscribePayload } from 'graphql-ws';
import { DEFAULT_BACKOFF, type LiveSubscriptionHandlers } from '../../client';
import { EphemeralSubscription } from '../../client/live-subscription';
import type { HeldSubscription, SubscriptionHost } from '../../client/socket-subscription';

/** graphql-ws's client as far as a subscription uses it: what was subscribed, and a sink per subscribe. */
class FakeSocket {
  readonly sent: { payload: SubscribePayload; sink: Sink<FormattedExecutionResult>; released: boolean }[] = [];

  subscribe(payload: SubscribePayload, sink: Sink<FormattedExecutionResult>): () => void {
    const entry = { payload, sink, released: false };
    this.sent.push(entry);
    return () => (entry.released = true);
  }

  last() {
    return this.sent[this.sent.length - 1]!;
  }

  asClient(): SocketClient {
    return this as unknown as SocketClient;
  }
}

const REQUEST = { query: 'subscription($chatId: ID!) { typingIndicator(chatId: $chatId) { chatId userId isTyping } }', variables: { chatId: 'chat-1' } };

describe('client: a live subscription (no cursor, no resume)', () => {
  let events: string[];
  let ended: HeldSubscription[];
  let handlers: LiveSubscriptionHandlers<{ userId: string }>;
  let host: SubscriptionHost;

  beforeEach(() => {
    jest.useFakeTimers();
    events = [];
    ended = [];
    handlers = {
      next: (payload) => events.push(`next ${payload.userId}`),
      started: () => events.push('started'),
      stopped: () => events.push('stopped'),
      error: (error) => events.push(`error ${error.code}`),
      complete: () => events.push('complete'),
    };
    host = {
      backoff: DEFAULT_BACKOFF,
      random: () => 0,
      setTimeout: (callback, ms) => setTimeout(callback, ms),
      clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
      ended: (subscription) => ended.push(subscription),
      reportError: (error) => events.push(`reported ${String(error)}`),
    };
  });

  afterEach(() => jest.useRealTimers());

  it('is sent on each new socket exactly as first given, says when it starts and stops, and passes payloads through', () => {
    const subscription = new EphemeralSubscription(REQUEST, handlers, host);
    const first = new FakeSocket();
    subscription.attach(first.asClient());
    subscription.attach(first.asClient());
    expect(first.sent).toHaveLength(1);
    first.last().sink.next({ data: { typingIndicator: { userId: 'alice' } } });
    subscription.detach();
    const second = new FakeSocket();
    subscription.attach(second.asClient());
    expect(second.last().payload).toEqual({ query: REQUEST.query, variables: { chatId: 'chat-1' }, operationName: undefined });
    // A late payload of the first socket's subscription is not passed on
    first.last().sink.next({ data: { typingIndicator: { userId: 'late' } } });
    expect(events).toEqual(['started', 'next alice', 'stopped', 'started']);
  });

  it('ends with error on a code a retry cannot fix, and is released', () => {
    const subscription = new EphemeralSubscription(REQUEST, handlers, host);
    const socket = new FakeSocket();
    subscription.attach(socket.asClient());
    socket.last().sink.error([{ message: 'not a participant', extensions: { code: 'FORBIDDEN' } }]);
    expect(events).toEqual(['started', 'error FORBIDDEN']);
    expect(socket.last().released).toBe(true);
    expect(ended).toEqual([subscription]);
  });

  it('is sent again after a backoff on a retryable error, and says it stopped meanwhile', () => {
    const subscription = new EphemeralSubscription(REQUEST, handlers, host);
    const socket = new FakeSocket();
    subscription.attach(socket.asClient());
    socket.last().sink.error([{ message: 'busy', extensions: { code: 'RATE_LIMITED' } }]);
    expect(events).toEqual(['started', 'stopped']);
    jest.advanceTimersByTime(DEFAULT_BACKOFF.initialMs);
    expect(socket.sent).toHaveLength(2);
    expect(events).toEqual(['started', 'stopped', 'started']);
  });

  it('tells the server on unsubscribe and sends nothing after', () => {
    const subscription = new EphemeralSubscription(REQUEST, handlers, host);
    const socket = new FakeSocket();
    subscription.attach(socket.asClient());
    subscription.unsubscribe();
    expect(socket.last().released).toBe(true);
    subscription.attach(new FakeSocket().asClient());
    expect(events).toEqual(['started']);
  });
});
