import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** One client connection through the proxy and its upstream twin. */
interface Link {
  client: Socket;
  upstream: Socket | null;
}

/**
 * A TCP proxy in front of a server, to hurt a client's connection for real:
 * - `cut()` closes every connection through it and refuses new ones until `restore()` (a browser's
 *   `setOffline` does not close an open WebSocket, and closing the server would cut every client);
 * - `blackhole()` stops forwarding in both directions while every connection stays open, as a dropped
 *   route, a frozen NAT or a host gone without a FIN do: bytes sent either way wait in the kernel's
 *   buffers, a new connection is accepted but never reaches the server. `heal()` forwards again
 *   (what waited is delivered, late); `reset()` ends every connection instead, as a peer's RST would.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly links = new Set<Link>();
  private blackholed = false;
  port = 0;

  private constructor(private readonly targetPort: number, private readonly targetHost: string) {}

  static async start(targetPort: number, options: { port?: number; targetHost?: string } = {}): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort, options.targetHost ?? '127.0.0.1');
    await proxy.listen(options.port ?? 0);
    return proxy;
  }

  /** The target's URL as seen through the proxy, e.g. `http://localhost:PORT/graphql` for `http://localhost:4000/graphql`. */
  url(targetUrl: string): string {
    const url = new URL(targetUrl);
    url.port = String(this.port);
    return url.toString();
  }

  get connectionCount(): number {
    return this.links.size;
  }

  get isBlackholed(): boolean {
    return this.blackholed;
  }

  /** Closes every connection and refuses new ones. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.destroyAll(false);
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Takes connections again, on the same port. */
  async restore(): Promise<void> {
    if (!this.server) await this.listen(this.port);
  }

  /** Stops forwarding anything, either way, without closing a connection or refusing a new one. */
  blackhole(): void {
    this.blackholed = true;
    for (const link of this.links) {
      link.client.pause();
      link.upstream?.pause();
    }
  }

  /** Forwards again: what waited in the buffers is delivered, connections accepted meanwhile go through. */
  heal(): void {
    this.blackholed = false;
    for (const link of this.links) {
      if (!link.upstream) this.connectUpstream(link);
      link.client.resume();
      link.upstream!.resume();
    }
  }

  /** Ends every connection with a reset (nothing that waited is delivered) and forwards new ones again. */
  reset(): void {
    this.destroyAll(true);
    this.blackholed = false;
  }

  stop(): Promise<void> {
    return this.cut();
  }

  private destroyAll(reset: boolean): void {
    for (const link of this.links) {
      for (const socket of [link.client, link.upstream]) {
        if (!socket) continue;
        if (reset && !socket.destroyed) socket.resetAndDestroy();
        else socket.destroy();
      }
    }
    this.links.clear();
  }

  private connectUpstream(link: Link): void {
    const upstream = connect(this.targetPort, this.targetHost);
    link.upstream = upstream;
    this.watch(link, upstream);
    forward(link.client, upstream, () => this.blackholed);
    forward(upstream, link.client, () => this.blackholed);
    if (this.blackholed) upstream.pause();
  }

  private watch(link: Link, socket: Socket): void {
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (!this.links.delete(link)) return;
      link.client.destroy();
      link.upstream?.destroy();
    });
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((client) => {
      const link: Link = { client, upstream: null };
      this.links.add(link);
      this.watch(link, client);
      // While blackholed a new connection is held, never forwarded: the client waits for a server that does not answer.
      if (this.blackholed) client.pause();
      else this.connectUpstream(link);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }
}

/**
 * `from` → `to`, pausing `from` while `to` is full, by hand rather than with `pipe`: a pipe resumes its
 * source when the destination drains, which would let bytes through a blackhole.
 */
function forward(from: Socket, to: Socket, blackholed: () => boolean): void {
  from.on('data', (chunk) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => {
    if (!blackholed()) from.resume();
  });
  from.on('end', () => to.end());
}
