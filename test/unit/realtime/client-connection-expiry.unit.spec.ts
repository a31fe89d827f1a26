import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { ClientConnection, type ConnectionHandlers } from '../../../src/interfaces/realtime/client-connection';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Just enough of a `ws` socket to see what the connection sends and how it closes. */
class FakeSocket extends EventEmitter {
  readonly sent: unknown[] = [];
  closedWith: { code: number; reason: string } | null = null;
  bufferedAmount = 0;
  send(frame: string): void {
    this.sent.push(JSON.parse(frame));
  }
  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }
  terminate(): void {}
}

const limits = { maxBufferedBytes: 1 << 20, maxPendingMessages: 100, connectionInitTimeoutMs: 3000, operationsPerSecond: 10, maxSubscriptions: 10 };

/** A connection acknowledged with a token that expires `ttlMs` from now (on the fake clock). */
async function acknowledgedFor(ttlMs: number): Promise<FakeSocket> {
  const socket = new FakeSocket();
  const handlers: ConnectionHandlers = {
    authenticate: async () => ({ userId: 'alice', expiresAt: Date.now() + ttlMs }),
    subscribe: async () => undefined,
      admit: () => true,
    unsubscribe: () => undefined,
    closed: () => undefined,
    slowConsumer: () => undefined,
    failed: (error) => {
      throw error;
    },
  };
  new ClientConnection(socket as unknown as WebSocket, limits, handlers);
  socket.emit('message', Buffer.from(JSON.stringify({ type: 'connection_init', payload: {} })), false);
  await jest.advanceTimersByTimeAsync(0);
  expect(socket.sent).toEqual([{ type: 'connection_ack' }]);
  return socket;
}

describe('ClientConnection closes with 4403 when its token expires (DESIGN.md §5)', () => {
  beforeEach(() => jest.useFakeTimers({ now: new Date('2026-11-25T12:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  it('at the expiry, not before', async () => {
    const socket = await acknowledgedFor(90_000);
    jest.advanceTimersByTime(89_999);
    expect(socket.closedWith).toBeNull();
    jest.advanceTimersByTime(1);
    expect(socket.closedWith).toEqual({ code: 4403, reason: expect.stringMatching(/token expired/) });
  });

  it('waits out an expiry beyond the longest timer setTimeout takes (about 24.8 days)', async () => {
    const socket = await acknowledgedFor(30 * DAY_MS);
    jest.advanceTimersByTime(1000);
    expect(socket.closedWith).toBeNull();
    jest.advanceTimersByTime(30 * DAY_MS - 1001);
    expect(socket.closedWith).toBeNull();
    jest.advanceTimersByTime(1);
    expect(socket.closedWith?.code).toBe(4403);
  });

  it('leaves no timer behind once the socket has closed', async () => {
    const socket = await acknowledgedFor(60_000);
    socket.emit('close');
    expect(jest.getTimerCount()).toBe(0);
  });
});
