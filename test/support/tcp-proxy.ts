import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

const DEFAULT_PORTS: Record<string, number> = { 'postgresql:': 5432, 'postgres:': 5432, 'redis:': 6379, 'http:': 80 };

/** One client connection through the proxy and its upstream twin. */
interface Link {
  client: Socket;
  upstream: Socket | null;
  /** Bytes from the client held back by a blackhole that began in the middle of them. */
  held: Buffer[];
  /** Blackholed: nothing crosses it, either way. */
  silent: boolean;
  /** One side closed while blackholed: the other learns of it only when the link heals. */
  closedWhileBlackholed: boolean;
}

export interface BlackholeOptions {
  /** 'hold' (default): a new connection is accepted and never reaches the server; 'forward': it goes through. */
  newConnections?: 'hold' | 'forward';
}

/** A trigger on the bytes a client sends, for a blackhole at a precise moment of a protocol. */
interface Trigger {
  matches(chunk: Buffer): boolean;
  /** Whether the matching bytes reach the server before the blackhole ('after') or are held by it ('before'). */
  when: 'before' | 'after';
  options: BlackholeOptions;
}

/**
 * A TCP proxy in front of a server, to hurt a client's connection for real:
 * - `cut()` closes every connection through it and refuses new ones until `restore()` (a browser's
 *   `setOffline` does not close an open WebSocket, and closing the server would cut every client);
 * - `blackhole()` stops forwarding in both directions while every connection stays open, as a dropped
 *   route, a frozen NAT or a host gone without a FIN do: bytes sent either way wait in the kernel's
 *   buffers, a close on one side does not reach the other, a new connection is accepted but never
 *   reaches the server. `heal()` forwards again (what waited is delivered, late); `reset()` ends every
 *   connection instead, as a peer's RST would. `blackholeWhen()` starts one at a given message.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly links = new Set<Link>();
  /** Whether a new connection is held (blackholed) or forwarded. */
  private holdNew = false;
  private trigger: Trigger | null = null;
  private triggered: (() => void) | null = null;
  port = 0;

  private constructor(private readonly targetPort: number, private readonly targetHost: string) {}

  static async start(targetPort: number, options: { port?: number; targetHost?: string } = {}): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort, options.targetHost ?? '127.0.0.1');
    await proxy.listen(options.port ?? 0);
    return proxy;
  }

  /** A proxy in front of the server a `postgresql://`, `redis://` or `http://` URL names (its default port when it names none). */
  static inFrontOf(targetUrl: string): Promise<TcpProxy> {
    const url = new URL(targetUrl);
    const defaultPort = DEFAULT_PORTS[url.protocol];
    if (!url.port && !defaultPort) throw new Error(`no port in ${targetUrl}`);
    return TcpProxy.start(Number(url.port || defaultPort), { targetHost: url.hostname });
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
    return this.holdNew || [...this.links].some((link) => link.silent);
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

  /** Stops forwarding anything on the connections open now, either way, without closing them. */
  blackhole(options: BlackholeOptions = {}): void {
    this.holdNew = (options.newConnections ?? 'hold') === 'hold';
    for (const link of this.links) {
      link.silent = true;
      link.client.pause();
      link.upstream?.pause();
    }
  }

  /**
   * Blackholes the moment a client sends bytes that `matches` (say, a COMMIT), letting those bytes
   * through first (`when: 'after'`) or holding them (`'before'`). Resolves when it happened.
   */
  blackholeWhen(matches: (chunk: Buffer) => boolean, when: 'before' | 'after', options: BlackholeOptions = {}): Promise<void> {
    return new Promise((resolve) => {
      this.trigger = { matches, when, options };
      this.triggered = resolve;
    });
  }

  /** Forwards again: what waited is delivered, connections accepted meanwhile go through, held closes arrive. */
  heal(): void {
    this.holdNew = false;
    this.trigger = null;
    for (const link of [...this.links]) {
      link.silent = false;
      if (link.closedWhileBlackholed) {
        this.endLink(link);
        continue;
      }
      if (!link.upstream) this.connectUpstream(link);
      for (const chunk of link.held.splice(0)) link.upstream!.write(chunk);
      link.client.resume();
      link.upstream!.resume();
    }
  }

  /** Ends every connection with a reset (nothing that waited is delivered) and forwards new ones again. */
  reset(): void {
    this.destroyAll(true);
    this.holdNew = false;
    this.trigger = null;
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

  private endLink(link: Link): void {
    this.links.delete(link);
    link.client.destroy();
    link.upstream?.destroy();
  }

  private connectUpstream(link: Link): void {
    const upstream = connect(this.targetPort, this.targetHost);
    link.upstream = upstream;
    this.watch(link, upstream);
    this.forward(link, link.client, upstream, true);
    this.forward(link, upstream, link.client, false);
    if (link.silent) upstream.pause();
  }

  /**
   * `from` → `to`, pausing `from` while `to` is full, by hand rather than with `pipe`: a pipe resumes its
   * source when the destination drains, which would let bytes through a blackhole.
   */
  private forward(link: Link, from: Socket, to: Socket, fromClient: boolean): void {
    from.on('data', (chunk: Buffer) => {
      if (fromClient && !link.silent && this.trigger?.matches(chunk)) {
        const { when, options } = this.trigger;
        this.trigger = null;
        if (when === 'after') to.write(chunk);
        else link.held.push(chunk);
        this.blackhole(options);
        this.triggered?.();
        this.triggered = null;
        return;
      }
      if (link.silent) {
        // Already read when the blackhole began: held, as if still in the kernel's buffer.
        if (fromClient) link.held.push(chunk);
        return;
      }
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!link.silent) from.resume();
    });
    from.on('end', () => {
      if (!link.silent) to.end();
    });
  }

  private watch(link: Link, socket: Socket): void {
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (!this.links.has(link)) return;
      // A FIN or RST does not cross a blackhole: the other side still thinks the connection is open.
      if (link.silent) {
        link.closedWhileBlackholed = true;
        return;
      }
      this.endLink(link);
    });
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((client) => {
      const link: Link = { client, upstream: null, held: [], silent: this.holdNew, closedWhileBlackholed: false };
      this.links.add(link);
      this.watch(link, client);
      // While blackholed a new connection is held, never forwarded: the client waits for a server that does not answer.
      if (link.silent) client.pause();
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
