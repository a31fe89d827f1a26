import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import {
  type ChannelMessage,
  type ChatMembership,
  type ChatReadModel,
} from '../../../src/application';
import { createGraphQLSchema } from '../../../src/interfaces/graphql/create-yoga';
import type { GraphQLContext } from '../../../src/interfaces/graphql/graphql-context';
import { RateLimiter } from '../../../src/interfaces/graphql/rate-limit';
import { SLOW_CONSUMER_CLOSE_CODE, TOO_MANY_CONNECTIONS_CLOSE_CODE } from '../../../src/interfaces/realtime/client-connection';
import { SubscriptionRouter } from '../../../src/interfaces/realtime/subscription-router';
import { SubscriptionServer, type SubscriptionServerDependencies } from '../../../src/interfaces/realtime/subscription-server';
import { FakeSocket } from '../../support/fake-socket';
import { FakeHistory, messageAdded, TokenIsUserId } from '../../support/realtime-fakes';

const CHAT = '00000000-0000-4000-8000-000000000001';
const QUERY = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq content } }';
const MAX_BUFFERED = 64 * 1024;
const CONTENT = 'z'.repeat(3000);
/** Long enough not to fire in a test unless the test asks for pings (a loaded machine delays pongs). */
let pingIntervalMs = 60_000;

const added = (seq: number): ChannelMessage => messageAdded(CHAT, seq, CONTENT);

describe('SubscriptionServer, over a socket whose client reads at a given pace', () => {
  let history: FakeHistory;
  let router: SubscriptionRouter;
  let server: SubscriptionServer;
  /** What `server` was made with, for a second server on a real HTTP server. */
  let dependencies: SubscriptionServerDependencies;
  let membership: (call: number) => Promise<ChatMembership>;
  let membershipCalls: number;
  let executions: number;
  const sockets: FakeSocket[] = [];

  beforeEach(() => {
    history = new FakeHistory();
    membershipCalls = 0;
    membership = async () => ({ exists: true, isParticipant: true });
    const schema = createGraphQLSchema();
    executions = 0;
    const contextFor = (viewerId: string) => {
      executions++;
      return { viewer: { userId: viewerId } } as GraphQLContext;
    };
    router = new SubscriptionRouter({ schema, contextFor, onError: (error) => { throw error; } });
    const readModel = { membership: () => membership(++membershipCalls) } as unknown as ChatReadModel;
    dependencies = {
      schema,
      router,
      history,
      readModel,
      verifier: new TokenIsUserId(),
      contextFor,
      rateLimiter: new RateLimiter(1000),
      limits: {
        maxBufferedBytes: MAX_BUFFERED,
        maxPendingMessages: 10_000,
        connectionInitTimeoutMs: 10_000,
        operationsPerSecond: 100,
        maxSubscriptions: 10,
        maxConnectionsPerUser: 3,
        pingIntervalMs,
        maxQueryDepth: 8,
        maxQueryCost: 5000,
      },
      path: '/graphql',
      onError: (error) => {
        throw error;
      },
    };
    server = new SubscriptionServer({ on: () => undefined, off: () => undefined } as unknown as Server, dependencies);
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await server.close();
  });

  /** A client that has been acknowledged, as graphql-ws waits for before it subscribes. */
  async function connect(viewer = 'bob'): Promise<FakeSocket> {
    const socket = new FakeSocket();
    sockets.push(socket);
    server.accept(socket.asWebSocket());
    socket.deliver({ type: 'connection_init', payload: { authorization: `Bearer ${viewer}` } });
    await until(() => socket.received.some((frame) => frame.type === 'connection_ack'), 'the acknowledgement');
    return socket;
  }

  async function until(test: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5)); // deliberate: the poll interval of a wait on the effect
    }
  }

  /** A live subscription ('live', no cursor) whose first access check passed and whose re-check waits for the test. */
  async function subscribedAwaitingRecheck() {
    let answerRecheck!: (membership: ChatMembership) => void;
    membership = (call) =>
      call === 1 ? Promise.resolve({ exists: true, isParticipant: true }) : new Promise((resolve) => (answerRecheck = resolve));
    const socket = (await connect()).readAt(1 << 20);
    socket.deliver({ id: 'live', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT } } });
    await until(() => membershipCalls === 2, 'the access re-check');
    return { socket, answerRecheck };
  }

  const seqsOf = (socket: FakeSocket, id: string) =>
    socket.framesOf(id).filter((frame) => frame.type === 'next').map((frame) => frame.payload.data.messageAdded.seq);

  it('never cuts off a client that keeps reading, however long its history (many times the send buffer)', async () => {
    // Given 1,200 records of about 3 KB: 55 times the send buffer
    history.records = Array.from({ length: 1200 }, (_, i) => ({ cursor: `1.${i + 1}`, messages: [added(i + 1)] }));
    const socket = (await connect()).readAt(32 * 1024, 2);

    // When the client resumes from the start
    socket.deliver({ id: 'r', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT, a: '0.0' } } });

    // Then it gets all of it, in order, and stays connected
    await until(() => seqsOf(socket, 'r').length === 1200 || socket.closed !== null, 'the history');
    expect(socket.closed).toBeNull();
    expect(seqsOf(socket, 'r')).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
  });

  it('sends what arrived live during a long resume no faster than the client reads', async () => {
    // Given a resume whose history is read only once 2,000 live messages are waiting for it
    history.records = Array.from({ length: 10 }, (_, i) => ({ cursor: `1.${i + 1}`, messages: [added(i + 1)] }));
    let openGate!: () => void;
    history.gate = new Promise<void>((resolve) => (openGate = resolve));
    const socket = (await connect()).readAt(32 * 1024, 2);
    socket.deliver({ id: 'r', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT, a: '0.0' } } });
    await until(() => router.size === 1, 'the subscription to join the routes');
    for (let seq = 11; seq <= 2010; seq++) void router.receive({ messages: [added(seq)] });

    // When history is read and the subscription goes live
    history.gate = null;
    openGate();

    // Then everything arrives in order, and the client stays connected
    await until(() => seqsOf(socket, 'r').length === 2010 || socket.closed !== null, 'history and live messages');
    expect(socket.closed).toBeNull();
    expect(seqsOf(socket, 'r')).toEqual(Array.from({ length: 2010 }, (_, i) => i + 1));
  });

  it('still cuts off a client that stops reading during its resume', async () => {
    history.records = Array.from({ length: 600 }, (_, i) => ({ cursor: `1.${i + 1}`, messages: [added(i + 1)] }));
    const socket = await connect();
    socket.deliver({ id: 'r', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT, a: '0.0' } } });
    for (let seq = 601; seq <= 10_700; seq++) void router.receive({ messages: [added(seq)] });
    await until(() => socket.closed !== null, 'the slow client to be cut off');
    expect(socket.closed!.code).toBe(SLOW_CONSUMER_CLOSE_CODE);
    expect(router.size).toBe(0);
  });

  it('holds a subscription without a cursor until its access is checked again, so a removal cannot slip past', async () => {
    // Given bob subscribing while his removal is being committed: the first check passes, the second waits
    const { socket, answerRecheck } = await subscribedAwaitingRecheck();

    // When a message posted after the removal is routed before the re-check answers
    await router.receive({ messages: [added(1)] });
    expect(socket.framesOf('live')).toEqual([]);
    answerRecheck({ exists: true, isParticipant: false });

    // Then bob never gets it: the subscription ends with FORBIDDEN
    await until(() => socket.framesOf('live').length > 0, 'the refusal');
    expect(socket.framesOf('live')).toEqual([
      { id: 'live', type: 'error', payload: [expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })] },
    ]);
    expect(router.size).toBe(0);
  });

  describe('a receiver still catching up (delivery lags the commits)', () => {
    const removal = (cursor: string): ChannelMessage => ({
      channel: 'chatUpdated',
      payload: { id: CHAT },
      meta: { eventId: `e${cursor}`, cursor, chatId: CHAT, occurredAt: '2026-12-01T00:00:00.000Z', userIds: ['alice'], removedUserIds: ['bob'] },
    });

    it('does not send a live subscription what was committed before its access re-check, such as a message from before the viewer joined', async () => {
      // Given bob, found a participant as of 1.5 (he joined at 1.4, after a message at 1.3)
      membership = async () => ({ exists: true, isParticipant: true, asOf: '1.5' });
      const socket = (await connect()).readAt(1 << 20);
      socket.deliver({ id: 'live', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT } } });
      await until(() => router.size === 1 && membershipCalls === 2, 'the subscription');

      // When the receiver, catching up, delivers 1.3 only now, then a message posted after the check
      await router.receive({ messages: [added(3)] });
      await router.receive({ messages: [added(6)] });

      // Then bob gets only what came after he subscribed
      await until(() => seqsOf(socket, 'live').includes(6), 'the new message');
      expect(seqsOf(socket, 'live')).toEqual([6]);
    });

    it('ends a chat subscription on a removal after its access re-check, not on one from before it that a re-addition undid', async () => {
      // Given bob, removed at 1.2, added again, and found a participant as of 1.5
      membership = async () => ({ exists: true, isParticipant: true, asOf: '1.5' });
      const socket = (await connect()).readAt(1 << 20);
      socket.deliver({ id: 'live', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT } } });
      await until(() => router.size === 1 && membershipCalls === 2, 'the subscription');

      // When the old removal arrives late, then a message, then a removal after the check
      await router.receive({ messages: [removal('1.2')] });
      await router.receive({ messages: [added(6)] });
      await until(() => seqsOf(socket, 'live').includes(6), 'the message after the check');
      await router.receive({ messages: [removal('1.7')] });

      // Then only the removal after the check ends it
      await until(() => socket.framesOf('live').some((frame) => frame.type === 'error'), 'the refusal');
      expect(socket.framesOf('live').map((frame) => frame.type)).toEqual(['next', 'error']);
    });
  });

  it('sends what arrived during the re-check once it passes, in order', async () => {
    const { socket, answerRecheck } = await subscribedAwaitingRecheck();
    await router.receive({ messages: [added(1)] });
    answerRecheck({ exists: true, isParticipant: true });
    await until(() => seqsOf(socket, 'live').length === 1, 'the held message');
    await router.receive({ messages: [added(2)] });
    await until(() => seqsOf(socket, 'live').length === 2, 'the live message');
    expect(seqsOf(socket, 'live')).toEqual([1, 2]);
  });

  it('drops the held copy of a message history skipped because the viewer was out then', async () => {
    // Given bob's history after 1.1: removed at 1.2, a message at 1.3 while he was out, re-added at 1.4
    const membershipChange = (cursor: string, channel: 'chatUpdated' | 'chatAdded', bob: 'removedUserIds' | 'userIds'): ChannelMessage => ({
      channel,
      payload: { id: CHAT },
      meta: { eventId: `e${cursor}`, cursor, chatId: CHAT, occurredAt: '2026-12-01T00:00:00.000Z', userIds: ['alice'], [bob]: ['bob'] },
    });
    const removal = membershipChange('1.2', 'chatUpdated', 'removedUserIds');
    const readd = membershipChange('1.4', 'chatAdded', 'userIds');
    history.records = [
      { cursor: '1.1', messages: [added(1)] },
      { cursor: '1.2', messages: [removal] },
      { cursor: '1.3', messages: [added(3)] },
      { cursor: '1.4', messages: [readd] },
    ];
    let openGate!: () => void;
    history.gate = new Promise<void>((resolve) => (openGate = resolve));
    const socket = (await connect()).readAt(1 << 20);
    socket.deliver({ id: 'r', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT, a: '1.1' } } });
    await until(() => router.size === 1, 'the subscription to join the routes');

    // When delivery lags the commits: the live copies of 1.3 and 1.4 reach the router while history is read
    await router.receive({ messages: [added(3)] });
    await router.receive({ messages: [readd] });
    history.gate = null;
    openGate();
    await router.receive({ messages: [added(5)] });

    // Then bob gets only what was posted while he was a participant
    await until(() => seqsOf(socket, 'r').includes(5), 'the message after the re-add');
    expect(seqsOf(socket, 'r')).toEqual([5]);
  });

  it('executes a payload once for subscribers whose selections differ only in operation name and layout', async () => {
    // Given two clients with the same selection, named and laid out differently
    const [first, second] = [(await connect('bob')).readAt(1 << 20), (await connect('carol')).readAt(1 << 20)];
    first.deliver({ id: 'a', type: 'subscribe', payload: { query: 'subscription Mine($c: ID!) { messageAdded(chatId: $c) { seq content } }', operationName: 'Mine', variables: { c: CHAT } } });
    second.deliver({ id: 'b', type: 'subscribe', payload: { query: 'subscription   Theirs ( $c : ID! ) {\n  messageAdded( chatId : $c ) {\n seq\n content } }', variables: { c: CHAT } } });
    await until(() => router.size === 2, 'both subscriptions');
    await until(() => membershipCalls === 4, 'both access re-checks');
    executions = 0;

    // When a message is routed to both
    await router.receive({ messages: [added(1)] });
    await until(() => seqsOf(first, 'a').length === 1 && seqsOf(second, 'b').length === 1, 'both frames');

    // Then its payload was executed once, and both got the same bytes
    expect(executions).toBe(1);
    expect(first.framesOf('a')[0].payload).toEqual(second.framesOf('b')[0].payload);
  });

  it('never shares a payload between subscribers whose frames differ through a variable named after', async () => {
    // Given two clients whose `$after` decides whether the content is in the frame (not a cursor at all)
    const query = 'subscription($c: ID!, $after: Boolean!) { messageAdded(chatId: $c) { seq content @include(if: $after) } }';
    const [first, second] = [(await connect('bob')).readAt(1 << 20), (await connect('carol')).readAt(1 << 20)];
    first.deliver({ id: 'a', type: 'subscribe', payload: { query, variables: { c: CHAT, after: true } } });
    second.deliver({ id: 'a', type: 'subscribe', payload: { query, variables: { c: CHAT, after: false } } });
    await until(() => router.size === 2 && membershipCalls === 4, 'both subscriptions');

    // When a message is routed to both
    await router.receive({ messages: [added(1)] });
    await until(() => first.framesOf('a').length === 1 && second.framesOf('a').length === 1, 'both frames');

    // Then each gets its own selection
    expect(first.framesOf('a')[0].payload.data.messageAdded).toEqual({ seq: 1, content: CONTENT });
    expect(second.framesOf('a')[0].payload.data.messageAdded).toEqual({ seq: 1 });
  });

  it('executes a payload once for subscribers that differ only in the cursor they resumed from', async () => {
    // Given two clients with the same selection, resuming from different cursors (nothing to replay)
    const [first, second] = [(await connect('bob')).readAt(1 << 20), (await connect('carol')).readAt(1 << 20)];
    first.deliver({ id: 'a', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT, a: '0.0' } } });
    second.deliver({ id: 'b', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT, a: '0.1' } } });
    await until(() => router.size === 2 && membershipCalls === 4, 'both subscriptions');
    // Their replays and switches to live run on promise callbacks alone: one turn lets them finish.
    await new Promise((resolve) => setImmediate(resolve));
    executions = 0;

    // When a message is routed to both
    await router.receive({ messages: [added(1)] });
    await until(() => seqsOf(first, 'a').length === 1 && seqsOf(second, 'b').length === 1, 'both frames');

    // Then its payload was executed once
    expect(executions).toBe(1);
  });

  it('over a real upgraded socket, holds the frames one turn routes to a client and writes them together after it', async () => {
    // Given a client of a server on a real HTTP server, and the server's end of its TCP connection
    const http = createServer();
    const real = new SubscriptionServer(http, dependencies);
    let stream: Duplex | undefined;
    http.on('upgrade', (_request, socket: Duplex) => (stream = socket));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`, 'graphql-transport-ws');
    const frames: { id?: string; type: string; payload?: any }[] = [];
    client.on('message', (data) => frames.push(JSON.parse(String(data))));
    try {
      await new Promise((resolve) => client.once('open', resolve));
      client.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer bob' } }));
      await until(() => frames.some((frame) => frame.type === 'connection_ack'), 'the acknowledgement');
      client.send(JSON.stringify({ id: 'live', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT } } }));
      await until(() => router.size === 1 && membershipCalls === 2, 'the subscription');
      await new Promise((resolve) => setImmediate(resolve));

      // When three records reach the router in one turn
      for (const seq of [1, 2, 3]) void router.receive({ messages: [added(seq)] });
      await router.enqueue(() => undefined);

      // Then until the turn ends the stream holds all three frames (a write would have sent them at once),
      // then they leave together and arrive in order
      expect(stream!.writableCorked).toBe(1);
      expect(stream!.writableLength).toBeGreaterThan(3 * CONTENT.length);
      await new Promise((resolve) => setImmediate(resolve));
      expect(stream!.writableCorked).toBe(0);
      await until(() => frames.filter((frame) => frame.type === 'next').length === 3, 'the three frames');
      expect(frames.filter((frame) => frame.type === 'next').map((frame) => frame.payload.data.messageAdded.seq)).toEqual([1, 2, 3]);
    } finally {
      client.terminate();
      await real.close();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it('acknowledges at most WS_MAX_CONNECTIONS_PER_USER sockets of one user, and one more once one closes', async () => {
    const open = await Promise.all([connect('dora'), connect('dora'), connect('dora')]);
    const fourth = new FakeSocket();
    sockets.push(fourth);
    server.accept(fourth.asWebSocket());
    fourth.deliver({ type: 'connection_init', payload: { authorization: 'Bearer dora' } });
    await until(() => fourth.closed !== null, 'the refusal');
    expect(fourth.closed!.code).toBe(TOO_MANY_CONNECTIONS_CLOSE_CODE);
    expect(open.every((socket) => socket.closed === null)).toBe(true);
    expect((await connect('erin')).closed).toBeNull();

    open[0]!.close();
    expect((await connect('dora')).closed).toBeNull();
  });

  describe('with a ping every 50 ms', () => {
    beforeAll(() => (pingIntervalMs = 50));
    afterAll(() => (pingIntervalMs = 60_000));

    it('pings every socket and drops one that does not answer by the next ping, releasing its subscriptions', async () => {
      const answering = await connect('bob');
      const silent = await connect('carol');
      silent.deliver({ id: 's', type: 'subscribe', payload: { query: QUERY, variables: { c: CHAT } } });
      await until(() => router.size === 1, 'the subscription');
      silent.answersPings = false;
      await until(() => silent.closed !== null, 'the silent socket to be dropped');
      expect(router.size).toBe(0);
      expect(answering.pings).toBeGreaterThan(1);
      expect(answering.closed).toBeNull();
    });
  });
});
