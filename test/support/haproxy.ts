import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { eventually } from './eventually';
import { REPO_ROOT } from './parley-process';
import { answers } from './service-urls';

/** The repository's edge proxy configuration, the one `npm run cluster` and docker-compose.yml use. */
export const HAPROXY_CONFIG = resolve(REPO_ROOT, 'deploy/haproxy/haproxy.cfg');

/** Debian's HAProxy (`.ci/run` installs it when it is missing); HAPROXY_PATH points elsewhere. */
export const HAPROXY_PATH = process.env.HAPROXY_PATH ?? '/usr/sbin/haproxy';

export interface EdgeProxyBackends {
  senders: [string, string];
  receivers: [string, string];
}

/**
 * HAProxy with the repository's configuration on a port of the test's own, in front of instances
 * given as host:port. Its output (server state changes) is kept for assertions.
 */
export class EdgeProxy {
  private output = '';

  private constructor(readonly port: number, private readonly child: ChildProcess) {
    const collect = (chunk: Buffer) => (this.output += chunk.toString('utf8'));
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
  }

  static async start(port: number, backends: EdgeProxyBackends): Promise<EdgeProxy> {
    if (!existsSync(HAPROXY_PATH)) {
      throw new Error(`no HAProxy at ${HAPROXY_PATH}: install it (apt-get install -y haproxy) or set HAPROXY_PATH`);
    }
    const child = spawn(HAPROXY_PATH, ['-db', '-f', HAPROXY_CONFIG], {
      env: {
        ...process.env,
        PARLEY_PROXY_BIND: `127.0.0.1:${port}`,
        PARLEY_SENDER_1: backends.senders[0],
        PARLEY_SENDER_2: backends.senders[1],
        PARLEY_RECEIVER_1: backends.receivers[0],
        PARLEY_RECEIVER_2: backends.receivers[1],
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proxy = new EdgeProxy(port, child);
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}):\n${proxy.log}`);
      if (!(await answers('127.0.0.1', port))) throw new Error(`haproxy does not listen on ${port} yet:\n${proxy.log}`);
    }, 10_000);
    return proxy;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get log(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** host:port of a Parley instance's URL, as the proxy's configuration takes it. */
export function hostPortOf(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname === 'localhost' ? '127.0.0.1' : hostname}:${port}`;
}
