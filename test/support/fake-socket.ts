import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';

/**
 * A WebSocket as the server sees one, over a link of limited speed: what is sent waits in
 * `bufferedAmount` until the simulated client reads it, `bytesPerTick` every `tickMs`. No network,
 * so the test decides exactly how fast the client reads, as loopback never would.
 */
export class FakeSocket extends EventEmitter {
  readonly protocol = 'graphql-transport-ws';
  bufferedAmount = 0;
  readonly received: any[] = [];
  closed: { code: number; reason: string } | null = null;
  /** Whether the simulated client answers the server's pings, as every live WebSocket client does. */
  answersPings = true;
  pings = 0;
  private reader: NodeJS.Timeout | null = null;

  /** Starts reading at a steady pace: a healthy client on a real network. */
  readAt(bytesPerTick: number, tickMs = 1): this {
    this.reader = setInterval(() => (this.bufferedAmount = Math.max(0, this.bufferedAmount - bytesPerTick)), tickMs);
    return this;
  }

  send(data: string | Buffer): void {
    if (this.closed) return;
    this.bufferedAmount += Buffer.byteLength(data);
    this.received.push(JSON.parse(String(data)));
  }

  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    this.closed = { code, reason };
    this.stop();
    this.emit('close', code, Buffer.from(reason));
  }

  ping(): void {
    this.pings++;
    if (this.answersPings) setImmediate(() => this.emit('pong'));
  }

  terminate(): void {
    this.close(1006, 'terminated');
  }

  /** A message from the client. */
  deliver(message: object): void {
    this.emit('message', Buffer.from(JSON.stringify(message)), false);
  }

  stop(): void {
    if (this.reader) clearInterval(this.reader);
    this.reader = null;
  }

  asWebSocket(): WebSocket {
    return this as unknown as WebSocket;
  }

  framesOf(id: string): any[] {
    return this.received.filter((frame) => frame.id === id);
  }
}
