import type { Client as SocketClient, FormattedExecutionResult, Sink, SubscribePayload } from 'graphql-ws';
import { DEFAULT_BACKOFF } from '../../client';
import { ManagedSubscription } from '../../client/resumable-subscription';
import type { SubscriptionHost } from '../../client/socket-subscription';

/** graphql-ws's client as far as a subscription uses it: what was sent, and a sink per operation. */
class FakeSocket {
  readonly sent: { payload: SubscribePayload; sink: Sink<FormattedExecutionResult> }[] = [];

  subscribe(payload: SubscribePayload, sink: Sink<FormattedExecutionResult>): () => void {
    this.sent.push({ payload, sink });
    return () => undefined;
  }

  last() {
    return this.sent[this.sent.length - 1]!;
  }

  asClient(): SocketClient {
    return this as unknown as SocketClient;
  }
}

const QUERY = 'subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { content cursor } }';
const EXPIRED = [{ message: 'cursor expired', extensions: { code: 'CURSOR_EXPIRED' } }];

/** Lets the promise callbacks run (the head's answer, the reload) without any timer moving. */
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

/**
 * The client library's reload after CURSOR_EXPIRED when the `{ head }` it reads first is refused (many
 * subscriptions reloading at once after an outage meet the rate limit or an unavailable database):
 * the subscription is tried again after a backoff, never left silent, and a refusal a retry cannot fix
 * ends it with its error.
 */
describe('client: reloading after CURSOR_EXPIRED when reading the head is refused', () => {
  let events: string[];
  let host: SubscriptionHost;

  beforeEach(() => {
    jest.useFakeTimers();
    events = [];
    host = {
      backoff: DEFAULT_BACKOFF,
      random: () => 0,
      setTimeout: (callback, ms) => setTimeout(callback, ms),
      clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
      ended: () => events.push('ended'),
      reportError: (error) => events.push(`reported ${String(error)}`),
    };
  });

  afterEach(() => jest.useRealTimers());

  function subscribed(socket: FakeSocket) {
    const subscription = new ManagedSubscription<{ content: string; cursor: string }>(
      { query: QUERY, variables: { chatId: 'c' }, after: '10.1' },
      { next: (payload) => events.push(`next ${payload.content}`), error: (error) => events.push(`error ${error.code}`), reload: () => void events.push('reload') },
      host,
    );
    subscription.attach(socket.asClient());
    return subscription;
  }

  it('tries again after a backoff when the head is refused with RATE_LIMITED, then reloads and goes on from the head', async () => {
    const socket = new FakeSocket();
    subscribed(socket);
    socket.last().sink.error(EXPIRED);
    expect(socket.last().payload.query).toBe('{ head }');
    socket.last().sink.error([{ message: 'slow down', extensions: { code: 'RATE_LIMITED' } }]);
    await settle();
    expect(events).toEqual([]);

    // The retry resumes from the old cursor, hears CURSOR_EXPIRED again, and this time reads the head
    jest.runOnlyPendingTimers();
    expect(socket.last().payload.variables).toMatchObject({ after: '10.1' });
    socket.last().sink.error(EXPIRED);
    socket.last().sink.next({ data: { head: '20.1' } });
    socket.last().sink.complete();
    await settle();
    expect(events).toEqual(['reload']);
    expect(socket.last().payload).toMatchObject({ query: QUERY, variables: { chatId: 'c', after: '20.1' } });
  });

  it('ends with the error when the head is refused for good', async () => {
    const socket = new FakeSocket();
    subscribed(socket);
    socket.last().sink.error(EXPIRED);
    socket.last().sink.error([{ message: 'no', extensions: { code: 'FORBIDDEN' } }]);
    await settle();
    expect(events).toEqual(['ended', 'error FORBIDDEN']);
  });
});
