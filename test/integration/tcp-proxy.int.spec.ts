import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { eventually } from '../support/eventually';
import { TcpProxy } from '../support/tcp-proxy';

/** The fault tests lean on the proxy's blackhole: it must hold bytes without closing anything. */
describe('TcpProxy (the fault tests’ network)', () => {
  let server: Server;
  let received: string;
  let accepted: Socket[];
  let proxy: TcpProxy;

  beforeEach(async () => {
    received = '';
    accepted = [];
    server = createServer((socket) => {
      accepted.push(socket);
      socket.on('data', (chunk) => {
        received += chunk.toString();
        socket.write(chunk);
      });
      socket.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    proxy = await TcpProxy.start((server.address() as AddressInfo).port);
  });

  afterEach(async () => {
    await proxy.stop();
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  async function client(): Promise<{ socket: Socket; echoed: () => string; closed: () => boolean }> {
    const socket = connect(proxy.port, '127.0.0.1');
    let echoed = '';
    let closed = false;
    socket.on('data', (chunk) => (echoed += chunk.toString()));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    return { socket, echoed: () => echoed, closed: () => closed };
  }

  it('given a blackhole, when bytes are sent both ways, then nothing passes and nothing closes until it heals', async () => {
    const c = await client();
    c.socket.write('before;');
    await eventually(() => expect(c.echoed()).toBe('before;'));

    proxy.blackhole();
    await new Promise<void>((resolve) => c.socket.write('during;', () => resolve()));
    // The server is still reachable directly: its own answer to a direct client proves time went by.
    const direct = connect((server.address() as AddressInfo).port, '127.0.0.1');
    direct.write('probe;');
    await eventually(() => expect(received).toBe('before;probe;'));
    direct.destroy();
    expect(c.echoed()).toBe('before;');
    expect(c.closed()).toBe(false);

    proxy.heal();
    await eventually(() => expect(c.echoed()).toBe('before;during;'));
    c.socket.destroy();
  });

  it('given a blackhole, a new connection is accepted but reaches the server only once healed', async () => {
    proxy.blackhole();
    const c = await client();
    c.socket.write('hello;');
    const direct = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await eventually(() => expect(accepted).toHaveLength(1));
    direct.destroy();
    expect(received).toBe('');

    proxy.heal();
    await eventually(() => expect(c.echoed()).toBe('hello;'));
    c.socket.destroy();
  });

  it('given a blackhole, a reset ends every connection and the next one goes through', async () => {
    const c = await client();
    proxy.blackhole();
    proxy.reset();
    await eventually(() => expect(c.closed()).toBe(true));

    const next = await client();
    next.socket.write('again;');
    await eventually(() => expect(next.echoed()).toBe('again;'));
    next.socket.destroy();
  });
});
