import { TcpProxy } from '../../support/tcp-proxy';

export type Dependency = 'redis' | 'postgres';
export type ProcessLinks = Record<Dependency, TcpProxy>;

/**
 * Each process's own network path to Redis and to PostgreSQL: one TCP proxy per (process, dependency),
 * so that a fault can cut one process off while the others go on. The links belong to the process's
 * name, not to one incarnation: a process started again under that name gets the same links (healed).
 *
 * A blackhole here is in user space: the proxy's kernel still answers TCP keepalive probes, so only
 * the application's own deadlines and probes can notice it, which is what the faults test.
 */
export class NetworkLinks {
  private readonly links = new Map<string, ProcessLinks>();

  constructor(private readonly targetPorts: Record<Dependency, number>) {}

  /** The process's links, opened on first use. */
  async open(name: string): Promise<ProcessLinks> {
    let links = this.links.get(name);
    if (!links) {
      const [redis, postgres] = await Promise.all([TcpProxy.start(this.targetPorts.redis), TcpProxy.start(this.targetPorts.postgres)]);
      links = { redis, postgres };
      this.links.set(name, links);
    }
    return links;
  }

  of(name: string, dependency: Dependency): TcpProxy {
    const links = this.links.get(name);
    if (!links) throw new Error(`${name} has no network links`);
    return links[dependency];
  }

  /** `DATABASE_URL` and `REDIS_URL` of a process: the dependencies' URLs through its own links. */
  async env(name: string, urls: { databaseUrl: string; redisUrl: string }): Promise<NodeJS.ProcessEnv> {
    const links = await this.open(name);
    return { DATABASE_URL: links.postgres.url(urls.databaseUrl), REDIS_URL: links.redis.url(urls.redisUrl) };
  }

  /** Every link forwarding again (after a fault that failed half-way, and before teardown). */
  healAll(): string[] {
    const healed: string[] = [];
    for (const [name, links] of this.links) {
      for (const dependency of ['redis', 'postgres'] as const) {
        if (!links[dependency].isBlackholed) continue;
        links[dependency].heal();
        healed.push(`${name}→${dependency}`);
      }
    }
    return healed;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.links.values()].flatMap((links) => [links.redis.stop(), links.postgres.stop()]));
    this.links.clear();
  }
}
