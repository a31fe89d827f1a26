import type { Server } from 'node:http';
import {
  type ChannelMessage,
  type ChatMembership,
  type ChatReadModel,
} from '../../../src/application';
import { createGraphQLSchema } from '../../../src/interfaces/graphql/create-yoga';
import type { GraphQLContext } from '../../../src/interfaces/graphql/graphql-context';
import { RateLimiter } from '../../../src/interfaces/graphql/rate-limit';
import { SubscriptionRouter } from '../../../src/interfaces/realtime/subscription-router';
import { SubscriptionServer } from '../../../src/interfaces/realtime/subscription-server';
import { FakeSocket } from '../../support/fake-socket';
import { FakeHistory, messageAdded, TokenIsUserId } from '../../support/realtime-fakes';

/**
 * graphql-transport-ws as graphql-ws's own server speaks it (node_modules/graphql-ws/PROTOCOL.md and
 * its server): what a `complete` from the client means for an operation that is still starting or
 * running, and the small frames (ping, binary data).
 */
const CHAT = '00000000-0000-4000-8000-000000000001';
const LIVE = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq } }';

const added = (seq: number): ChannelMessage => messageAdded(CHAT, seq, 'hi');

/** A promise the test settles. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

/**
 * What the test released runs on promise callbacks alone (every fake here answers without I/O or a
 * timer), so one turn of the event loop lets it run to its end: how a test sees that nothing came of it.
 */
const settled = () => new Promise((resolve) => setImmediate(resolve));

async function until(test: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5)); // deliberate: the poll interval of this wait for a condition
  }
}

describe('graphql-transport-ws as graphql-ws speaks it', () => {
  let history: FakeHistory;
  let router: SubscriptionRouter;
  let server: SubscriptionServer;
  /** Every command and query the resolvers send, answered by `answer` (in call order). */
  let answer: (call: number, what: object) => Promise<unknown>;
  let busCalls: number;
  let membership: (call: number) => Promise<ChatMembership>;
  let membershipCalls: number;
  const sockets: FakeSocket[] = [];

  beforeEach(() => {
    history = new FakeHistory();
    busCalls = 0;
    answer = async () => 'head';
    membershipCalls = 0;
    membership = async () => ({ exists: true, isParticipant: true });
    const schema = createGraphQLSchema();
    const bus = { execute: (what: object) => answer(++busCalls, what) };
    const contextFor = (viewerId: string) => ({ viewer: { userId: viewerId }, queryBus: bus, commandBus: bus }) as unknown as GraphQLContext;
    router = new SubscriptionRouter({ schema, contextFor, onError: (error) => { throw error; } });
    const readModel = { membership: () => membership(++membershipCalls) } as unknown as ChatReadModel;
    server = new SubscriptionServer({ on: () => undefined, off: () => undefined } as unknown as Server, {
      schema,
      router,
      history,
      readModel,
      verifier: new TokenIsUserId(),
      contextFor,
      rateLimiter: new RateLimiter(1000),
      limits: {
        maxBufferedBytes: 1 << 20,
        maxPendingMessages: 10_000,
        connectionInitTimeoutMs: 10_000,
        operationsPerSecond: 100,
        maxSubscriptions: 10,
        maxConnectionsPerUser: 3,
        pingIntervalMs: 60_000,
        maxQueryDepth: 8,
        maxQueryCost: 5000,
      },
      path: '/graphql',
      onError: (error) => {
        throw error;
      },
    });
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await server.close();
  });

  async function connect(): Promise<FakeSocket> {
    const socket = new FakeSocket();
    sockets.push(socket);
    server.accept(socket.asWebSocket());
    socket.deliver({ type: 'connection_init', payload: { authorization: 'Bearer bob' } });
    await until(() => socket.received.some((frame) => frame.type === 'connection_ack'), 'the acknowledgement');
    return socket;
  }

  const typesOf = (socket: FakeSocket, id: string) => socket.framesOf(id).map((frame) => frame.type);
  const seqsOf = (socket: FakeSocket, id: string) =>
    socket.framesOf(id).filter((frame) => frame.type === 'next').map((frame) => frame.payload.data.messageAdded.seq);

  describe('small frames', () => {
    it('given a ping with a payload, when the server answers, then the pong echoes that payload', async () => {
      const socket = await connect();

      socket.deliver({ type: 'ping', payload: { sentAt: 12, note: 'é' } });
      socket.deliver({ type: 'ping' });

      await until(() => socket.received.filter((frame) => frame.type === 'pong').length === 2, 'both pongs');
      expect(socket.received.filter((frame) => frame.type === 'pong')).toEqual([{ type: 'pong', payload: { sentAt: 12, note: 'é' } }, { type: 'pong' }]);
    });

    it('given an acknowledged socket, when the client sends a binary frame, then it is closed with 4400 saying the protocol is JSON text', async () => {
      const socket = await connect();

      socket.emit('message', Buffer.from(JSON.stringify({ type: 'ping' })), true);

      await until(() => socket.closed !== null, 'the close');
      expect(socket.closed!.code).toBe(4400);
      expect(socket.closed!.reason).toMatch(/binary frames are not supported/i);
      expect(socket.closed!.reason).toMatch(/JSON text/);
    });
  });

  describe('a complete from the client', () => {
    it.each([
      ['query', '{ head }'],
      ['mutation', 'mutation { markMessageAsRead(messageId: "m1") { messageId } }'],
    ])('given a %s still running, when the client completes it, then neither its result nor a complete is sent', async (_kind, query) => {
      // Given an operation whose first resolver call waits, and a second one (later on the socket) waiting on the same answer
      const slow = deferred<unknown>();
      answer = (call) => (call <= 2 ? slow.promise : Promise.resolve({ messageId: 'm1' }));
      const socket = await connect();
      socket.deliver({ id: 'cancelled', type: 'subscribe', payload: { query } });
      socket.deliver({ id: 'kept', type: 'subscribe', payload: { query } });
      await until(() => busCalls === 2, 'both operations to run');

      // When the client completes the first, then its answer comes
      socket.deliver({ id: 'cancelled', type: 'complete' });
      slow.resolve('head');

      // Then the second is answered; the first, which got the same answer first, sends nothing
      await until(() => typesOf(socket, 'kept').includes('complete'), 'the other answer');
      await settled();
      expect(typesOf(socket, 'kept')).toEqual(['next', 'complete']);
      expect(socket.framesOf('cancelled')).toEqual([]);
      expect(socket.closed).toBeNull();
    });

    it('given a query the client completed, when it subscribes again with that id, then only the new query answers it', async () => {
      // Given a query that waits for its answer, completed by the client
      const old = deferred<unknown>();
      answer = (call) => (call === 1 ? old.promise : Promise.resolve('new head'));
      const socket = await connect();
      socket.deliver({ id: 'q', type: 'subscribe', payload: { query: '{ head }' } });
      await until(() => busCalls === 1, 'the query to run');
      socket.deliver({ id: 'q', type: 'complete' });

      // When the client reuses the id at once, and then the old query's answer comes
      socket.deliver({ id: 'q', type: 'subscribe', payload: { query: '{ head }' } });
      await until(() => typesOf(socket, 'q').includes('complete') || socket.closed !== null, 'the new answer');
      old.resolve('old head');
      await settled();

      // Then the socket stays open and the id carries the new answer only
      expect(socket.closed).toBeNull();
      expect(socket.framesOf('q')).toEqual([
        { id: 'q', type: 'next', payload: { data: { head: 'new head' } } },
        { id: 'q', type: 'complete' },
      ]);
    });

    it.each([
      ['passes', true],
      ['fails', false],
    ])(
      'given a subscription completed during its access check, when the id is reused and the old check then %s, then only the new subscription is live',
      async (_outcome, participant) => {
        // Given a subscription whose access check waits, completed by the client
        const oldCheck = deferred<ChatMembership>();
        membership = (call) => (call === 1 ? oldCheck.promise : Promise.resolve({ exists: true, isParticipant: true }));
        const socket = (await connect()).readAt(1 << 20);
        socket.deliver({ id: 'live', type: 'subscribe', payload: { query: LIVE, variables: { c: CHAT } } });
        await until(() => membershipCalls === 1, 'the access check');
        socket.deliver({ id: 'live', type: 'complete' });

        // When the client subscribes again with that id, and the old check answers once the new one is live
        socket.deliver({ id: 'live', type: 'subscribe', payload: { query: LIVE, variables: { c: CHAT } } });
        await until(() => membershipCalls === 3 || socket.closed !== null, 'the new subscription to be checked twice');
        await settled();
        oldCheck.resolve({ exists: true, isParticipant: participant });
        await settled();

        // Then the socket stays open, one subscription is routed, and the old start sent nothing
        expect(socket.closed).toBeNull();
        expect(router.size).toBe(1);
        expect(socket.framesOf('live')).toEqual([]);
        await router.receive({ messages: [added(1)] });
        await until(() => seqsOf(socket, 'live').length > 0, 'the live message');
        expect(socket.framesOf('live')).toEqual([{ id: 'live', type: 'next', payload: { data: { messageAdded: { seq: 1 } } } }]);

        // And a complete of the new one ends it
        socket.deliver({ id: 'live', type: 'complete' });
        expect(router.size).toBe(0);
      },
    );

    it('given a resume completed while it replays history, when the id is reused at once, then the old replay neither sends nor disturbs the new one', async () => {
      // Given a resume whose history is read only when the test says, completed by the client
      history.records = [1, 2, 3].map((seq) => ({ cursor: `1.${seq}`, messages: [added(seq)] }));
      const read = deferred<void>();
      history.gate = read.promise;
      const socket = (await connect()).readAt(1 << 20);
      socket.deliver({ id: 'r', type: 'subscribe', payload: { query: LIVE, variables: { c: CHAT, a: '1.0' } } });
      await until(() => router.size === 1 && membershipCalls === 2, 'the resume to join the routes');
      socket.deliver({ id: 'r', type: 'complete' });

      // When the client subscribes again with that id, without a cursor, and then the old history is read
      socket.deliver({ id: 'r', type: 'subscribe', payload: { query: LIVE, variables: { c: CHAT } } });
      await until(() => membershipCalls === 4 || socket.closed !== null, 'the new subscription to be checked twice');
      await settled();
      history.gate = null;
      read.resolve();
      await settled();

      // Then the old history never goes out, the new subscription gets what is live, and its complete ends it
      expect(socket.closed).toBeNull();
      await router.receive({ messages: [added(4)] });
      await until(() => seqsOf(socket, 'r').length > 0, 'the live message');
      expect(seqsOf(socket, 'r')).toEqual([4]);
      expect(router.size).toBe(1);
      socket.deliver({ id: 'r', type: 'complete' });
      expect(router.size).toBe(0);
    });

    it('given a reused id, when the completed query ends while the new one runs, then a repeat of the id still closes with 4409', async () => {
      // Given a query completed by the client, and a new one under the same id, both waiting
      const old = deferred<unknown>();
      answer = (call) => (call === 1 ? old.promise : new Promise(() => undefined));
      const socket = await connect();
      socket.deliver({ id: 'q', type: 'subscribe', payload: { query: '{ head }' } });
      await until(() => busCalls === 1, 'the query to run');
      socket.deliver({ id: 'q', type: 'complete' });
      socket.deliver({ id: 'q', type: 'subscribe', payload: { query: '{ head }' } });
      await until(() => busCalls === 2 || socket.closed !== null, 'the new query to run');

      // When the old one ends, and then the client repeats the id without completing the new one
      old.resolve('old head');
      await settled();
      socket.deliver({ id: 'q', type: 'subscribe', payload: { query: '{ head }' } });

      // Then the id is still the new query's: the repeat closes the socket with 4409
      await until(() => socket.closed !== null, 'the close');
      expect(socket.closed!.code).toBe(4409);
      expect(socket.framesOf('q')).toEqual([]);
    });

    it('given a resume the server ended during its replay (the viewer was removed), when the client reuses the id at once, then the new subscription starts', async () => {
      // Given a resume whose history is read only when the test says
      history.records = [1, 2].map((seq) => ({ cursor: `1.${seq}`, messages: [added(seq)] }));
      const read = deferred<void>();
      history.gate = read.promise;
      const socket = (await connect()).readAt(1 << 20);
      socket.deliver({ id: 'r', type: 'subscribe', payload: { query: LIVE, variables: { c: CHAT, a: '1.0' } } });
      await until(() => router.size === 1 && membershipCalls === 2, 'the resume to join the routes');

      // When a removal ends it with FORBIDDEN, and the client subscribes again with that id while the old replay waits
      const removal: ChannelMessage = {
        channel: 'chatUpdated',
        payload: { id: CHAT },
        meta: { eventId: 'e3', cursor: '1.3', chatId: CHAT, occurredAt: '2026-12-01T00:00:00.000Z', userIds: ['alice'], removedUserIds: ['bob'] },
      };
      await router.receive({ messages: [removal] });
      expect(typesOf(socket, 'r')).toEqual(['error']);
      socket.deliver({ id: 'r', type: 'subscribe', payload: { query: LIVE, variables: { c: CHAT } } });
      await until(() => membershipCalls === 4 || socket.closed !== null, 'the new subscription to be checked twice');
      history.gate = null;
      read.resolve();
      await settled();

      // Then the socket stays open, the old history never goes out, and the new subscription is live
      expect(socket.closed).toBeNull();
      await router.receive({ messages: [added(4)] });
      await until(() => seqsOf(socket, 'r').length > 0, 'the live message');
      expect(seqsOf(socket, 'r')).toEqual([4]);
      expect(router.size).toBe(1);
    });

    it('given a query still running and not completed, when the client subscribes again with its id, then the socket closes with 4409', async () => {
      answer = () => new Promise(() => undefined);
      const socket = await connect();
      socket.deliver({ id: 'q', type: 'subscribe', payload: { query: '{ head }' } });
      await until(() => busCalls === 1, 'the query to run');

      socket.deliver({ id: 'q', type: 'subscribe', payload: { query: '{ head }' } });

      await until(() => socket.closed !== null, 'the close');
      expect(socket.closed!.code).toBe(4409);
    });

    it('given a subscription being started and not completed, when the client subscribes again with its id, then the socket closes with 4409', async () => {
      membership = () => new Promise(() => undefined);
      const socket = await connect();
      socket.deliver({ id: 'live', type: 'subscribe', payload: { query: LIVE, variables: { c: CHAT } } });
      await until(() => membershipCalls === 1, 'the access check');

      socket.deliver({ id: 'live', type: 'subscribe', payload: { query: LIVE, variables: { c: CHAT } } });

      await until(() => socket.closed !== null, 'the close');
      expect(socket.closed!.code).toBe(4409);
    });
  });
});
