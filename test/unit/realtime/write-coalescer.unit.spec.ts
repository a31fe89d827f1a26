import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { WriteCoalescer } from '../../../src/interfaces/realtime/write-coalescer';

/** A stream that records each batch it is asked to write: one `writev` call is one system call on a socket. */
function recordingStream(): { stream: Writable; batches: string[][] } {
  const batches: string[][] = [];
  const stream = new Writable({
    writev(chunks, done) {
      batches.push(chunks.map(({ chunk }) => String(chunk)));
      done();
    },
    write(chunk, _encoding, done) {
      batches.push([String(chunk)]);
      done();
    },
  });
  return { stream, batches };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('WriteCoalescer', () => {
  it('given three writes to one stream in one turn, when the turn ends, then they leave in one batch, in order', async () => {
    const coalescer = new WriteCoalescer();
    const { stream, batches } = recordingStream();
    const output = { hold: () => coalescer.hold(stream) };

    for (const frame of ['a', 'b', 'c']) {
      output.hold();
      stream.write(frame);
    }
    expect(batches).toEqual([]);

    await nextTurn();
    expect(batches).toEqual([['a', 'b', 'c']]);
  });

  it('given writes in two turns, then each turn is its own batch and the stream is not left corked', async () => {
    const coalescer = new WriteCoalescer();
    const { stream, batches } = recordingStream();
    const output = { hold: () => coalescer.hold(stream) };

    output.hold();
    stream.write('a');
    output.hold();
    stream.write('b');
    await nextTurn();
    output.hold();
    stream.write('c');
    await nextTurn();

    expect(batches).toEqual([['a', 'b'], ['c']]);
    expect(stream.writableCorked).toBe(0);
  });

  it('given many streams written in one turn, then each stream gets one batch of its own frames', async () => {
    const coalescer = new WriteCoalescer();
    const streams = Array.from({ length: 3 }, recordingStream);
    for (const round of [1, 2]) {
      streams.forEach(({ stream }, i) => {
        coalescer.hold(stream);
        stream.write(`${i}.${round}`);
      });
    }
    await nextTurn();
    expect(streams.map(({ batches }) => batches)).toEqual([[['0.1', '0.2']], [['1.1', '1.2']], [['2.1', '2.2']]]);
  });

  it('given a stream destroyed while held, when the turn ends, then nothing throws and the others still flush', async () => {
    const coalescer = new WriteCoalescer();
    const gone = recordingStream();
    const kept = recordingStream();
    coalescer.hold(gone.stream);
    gone.stream.write('lost');
    coalescer.hold(kept.stream);
    kept.stream.write('kept');
    gone.stream.on('error', () => undefined);
    gone.stream.destroy();

    await nextTurn();
    expect(gone.batches).toEqual([]);
    expect(kept.batches).toEqual([['kept']]);
  });

  describe('under a real WebSocket', () => {
    let server: Server;
    let sockets: WebSocketServer;
    let accepted: Promise<{ ws: WebSocket; stream: Duplex }>;
    let client: WebSocket;

    beforeEach(async () => {
      sockets = new WebSocketServer({ noServer: true });
      server = createServer();
      accepted = new Promise((resolve) => {
        server.on('upgrade', (request, stream: Duplex, head) => sockets.handleUpgrade(request, stream, head, (ws) => resolve({ ws, stream })));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
      await new Promise((resolve) => client.once('open', resolve));
    });

    afterEach(async () => {
      client.terminate();
      sockets.close();
      await new Promise((resolve) => server.close(resolve));
    });

    it('counts held frames in bufferedAmount, so the slow-consumer bound sees them, and delivers them in order', async () => {
      const { ws, stream } = await accepted;
      const coalescer = new WriteCoalescer();
      const output = { hold: () => coalescer.hold(stream) };
      const received: string[] = [];
      const all = new Promise<void>((resolve) =>
        client.on('message', (data) => {
          received.push(String(data));
          if (received.length === 50) resolve();
        }),
      );

      for (let i = 0; i < 50; i++) {
        output.hold();
        ws.send(`frame ${i} ${'x'.repeat(100)}`);
      }
      expect(ws.bufferedAmount).toBeGreaterThan(50 * 100);

      await all;
      expect(received).toEqual(Array.from({ length: 50 }, (_, i) => `frame ${i} ${'x'.repeat(100)}`));
      expect(ws.bufferedAmount).toBe(0);
    });

    it('sends a close frame held behind data after the data', async () => {
      const { ws, stream } = await accepted;
      const coalescer = new WriteCoalescer();
      const output = { hold: () => coalescer.hold(stream) };
      const received: string[] = [];
      client.on('message', (data) => received.push(String(data)));
      const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));

      output.hold();
      ws.send('last words');
      output.hold();
      ws.close(4503, 'bye');

      expect(await closed).toBe(4503);
      expect(received).toEqual(['last words']);
    });
  });
});
