import WebSocket from 'ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { SLOW_CONSUMER_CLOSE_CODE } from '../../src/interfaces/realtime/client-connection';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const SUBSCRIPTIONS_ON_SLOW_SOCKET = 40;
const FLOOD = 100;
const MAX_BUFFERED = 64 * 1024;
const HISTORY = 150;
const LIVE_DURING_RESUME = 60;

describe('a subscriber that stops reading', () => {
  let database: TestDatabase;
  let server: RunningServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url, {
      WS_MAX_BUFFERED_BYTES: String(MAX_BUFFERED),
      WS_OPERATIONS_PER_SECOND: '1000',
      // One user posts the history as fast as the server answers, faster than the default per-user
      // limit since group commit: this test is about sockets, not that limit.
      HTTP_OPERATIONS_PER_SECOND: '100000',
    });
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  it('is cut off with 4503 while the others keep receiving, and its frames are released', async () => {
    const [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);
    const { createChat: chat } = await ok(server.url, alice, 'mutation { createChat(input: { name: "flood", participantIds: ["bob"] }) { id } }');
    const query = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq content } }';
    const head = (await ok(server.url, alice, '{ head }')).head;

    // Given bob reading normally, and a raw socket of alice's with 40 subscriptions to the chat
    const bobClient = connectClient(server.url, bob);
    const bobMessages = subscribe(bobClient, query, { c: chat.id, a: head });
    const slow = await openRawSocket(server.url, alice);
    for (let i = 0; i < SUBSCRIPTIONS_ON_SLOW_SOCKET; i++) {
      slow.send(JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query, variables: { c: chat.id, a: head } } }));
    }
    const post = (content: string) =>
      ok(server.url, alice, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }', { c: chat.id, t: content });
    await post('warm-up');
    await slow.framesReceived(SUBSCRIPTIONS_ON_SLOW_SOCKET);
    const subscriptionsBefore = server.realtime.router!.size;
    expect(subscriptionsBefore).toBe(SUBSCRIPTIONS_ON_SLOW_SOCKET + 1);

    // When alice's socket stops reading and the chat gets busy
    slow.pauseReading();
    const big = 'x'.repeat(3000);
    for (let i = 0; i < FLOOD; i++) await post(`${i} ${big}`);

    // Then that connection is dropped with its subscriptions, and bob still gets every message in order
    await eventually(() => expect(server.realtime.router!.size).toBe(1));
    expect(await metric(server, 'parley_dropped_slow_clients_total')).toBe(1);
    expect(server.realtime.subscriptions!.connectionCount).toBe(1);
    const received = await bobMessages.count(FLOOD + 1);
    expect(received.map((m) => m.seq)).toEqual(Array.from({ length: FLOOD + 1 }, (_, i) => i + 1));

    // and what the server held for it is gone: the socket was closed (4503 if the close frame got through)
    slow.resumeReading();
    const closed = await slow.closed;
    expect([SLOW_CONSUMER_CLOSE_CODE, 1006]).toContain(closed.code);
    expect(slow.bytesReceived).toBeLessThan(SUBSCRIPTIONS_ON_SLOW_SOCKET * (FLOOD + 1) * 3100);
    await bobClient.dispose();
  });

  it('never cuts off a client that keeps reading, however long its resume and however much arrives meanwhile', async () => {
    const alice = await tokenFor('alice');
    const { createChat: chat } = await ok(server.url, alice, 'mutation { createChat(input: { name: "long resume", participantIds: ["bob"] }) { id } }');
    const query = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq content } }';
    const post = (content: string) =>
      ok(server.url, alice, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }', { c: chat.id, t: content });
    const cursor = (await ok(server.url, alice, '{ head }')).head;
    // Given a history many times the send buffer (about 7 × WS_MAX_BUFFERED_BYTES)
    const big = 'y'.repeat(3000);
    for (let i = 0; i < HISTORY; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => post(`${i + j} ${big}`)));

    // When a client that reads steadily, but slower than loopback, resumes from before it, while more is posted
    const reader = await openRawSocket(server.url, alice);
    reader.readInBursts();
    reader.send(JSON.stringify({ id: 'resume', type: 'subscribe', payload: { query, variables: { c: chat.id, a: cursor } } }));
    for (let i = HISTORY; i < HISTORY + LIVE_DURING_RESUME; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => post(`${i + j} ${big}`)));

    // Then it gets everything, in order, and is never cut off
    await reader.framesReceived(HISTORY + LIVE_DURING_RESUME);
    expect(reader.seqs).toEqual(Array.from({ length: HISTORY + LIVE_DURING_RESUME }, (_, i) => i + 1));
    expect(reader.isOpen).toBe(true);
    reader.close();
  });
});

async function metric(server: RunningServer, name: string): Promise<number> {
  const metrics = await server.metrics.registry.getSingleMetric(name)!.get();
  return metrics.values.reduce((sum, value) => sum + value.value, 0);
}

/** A graphql-transport-ws client on a bare socket, so the test can stop it from reading. */
async function openRawSocket(httpUrl: string, token: string) {
  const socket = new WebSocket(httpUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
  let frames = 0;
  let bytesReceived = 0;
  let open = true;
  const seqs: number[] = [];
  const waiting: { count: number; resolve: () => void }[] = [];
  const closed = new Promise<{ code: number }>((resolve) =>
    socket.on('close', (code) => {
      open = false;
      resolve({ code });
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    });
    socket.on('message', (data) => {
      bytesReceived += (data as Buffer).length;
      const message = JSON.parse(data.toString());
      if (message.type === 'connection_ack') resolve();
      if (message.type === 'next') {
        frames++;
        const seq = message.payload?.data?.messageAdded?.seq;
        if (typeof seq === 'number') seqs.push(seq);
        for (const waiter of waiting.filter((w) => frames >= w.count)) waiter.resolve();
      }
    });
    socket.once('error', reject);
  });
  const tcp = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  let bursts: NodeJS.Timeout | null = null;
  return {
    send: (data: string) => socket.send(data),
    /** Reads for a moment every few milliseconds: a healthy client on a real network, slower than loopback. */
    readInBursts: () => {
      tcp.pause();
      bursts = setInterval(() => {
        tcp.resume();
        setImmediate(() => bursts && tcp.pause());
      }, 3);
    },
    close: () => {
      if (bursts) clearInterval(bursts);
      bursts = null;
      tcp.resume();
      socket.close();
    },
    seqs,
    get isOpen() {
      return open;
    },
    framesReceived: (count: number) => (frames >= count ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ count, resolve }))),
    pauseReading: () => tcp.pause(),
    resumeReading: () => tcp.resume(),
    closed,
    get bytesReceived() {
      return bytesReceived;
    },
  };
}
