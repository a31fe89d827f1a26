import WebSocket from 'ws';

/**
 * Bare graphql-transport-ws subscribers: thousands of them from one process cost far less than as
 * many full clients, and they count frames without parsing them.
 */
export class SocketCrowd {
  readonly sockets: WebSocket[] = [];
  frames = 0;
  private waiters: { count: number; resolve: () => void }[] = [];

  async connect(wsUrl: string, token: string, count: number, query: string, variablesOf: (i: number) => Record<string, unknown>): Promise<void> {
    const batch = 200;
    for (let start = 0; start < count; start += batch) {
      await Promise.all(
        Array.from({ length: Math.min(batch, count - start) }, (_, i) => this.open(wsUrl, token, query, variablesOf(start + i))),
      );
    }
  }

  /** Resolves once `count` frames have arrived in total. */
  waitForFrames(count: number, timeoutMs = 120_000): Promise<void> {
    if (this.frames >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.frames} of ${count} frames arrived`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  close(): void {
    for (const socket of this.sockets) socket.terminate();
    this.sockets.length = 0;
  }

  private open(wsUrl: string, token: string, query: string, variables: Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(wsUrl, 'graphql-transport-ws', { perMessageDeflate: false });
      this.sockets.push(socket);
      socket.once('error', reject);
      // Refused before its ack (a limit, a bad token): say so instead of waiting for ever.
      socket.once('close', (code, reason) => reject(new Error(`socket closed with ${code} ${reason.toString()} before connection_ack`)));
      socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
      socket.on('message', (data) => {
        const text = data.toString();
        if (text.startsWith('{"type":"connection_ack"')) {
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
          resolve();
          return;
        }
        if (text.includes('"type":"next"')) {
          this.frames++;
          if (this.waiters.length) this.check();
        }
      });
    });
  }

  private check(): void {
    for (const waiter of [...this.waiters]) {
      if (this.frames >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
}
