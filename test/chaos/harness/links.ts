import { TcpProxy } from '../../support/tcp-proxy';

export type Dependency = 'redis' | 'postgres';
/** A process's links; no Redis link on a Redis Cluster (see `NetworkLinks`). */
export type ProcessLinks = { redis: TcpProxy | null; postgres: TcpProxy };

/**
 * Each process's own network path to Redis and to PostgreSQL: one TCP proxy per (process, dependency),
 * so that a fault can cut one process off while the others go on. The links belong to the process's
 * name, not to one incarnation: a process started again under that name gets the same links (healed).
 *
 * A blackhole here is in user space: the proxy's kernel still answers TCP keepalive probes, so only
 * the application's own deadlines and probes can notice it, which is what the faults test.
 *
 * On a Redis Cluster (`redis: null`) a process has a PostgreSQL link only: a cluster client dials the
 * node addresses the cluster announces (CLUSTER SLOTS), not the seed it was given, so a per-process
 * proxy would carry its first connection and none of the others. The cluster's own proxies (one per
 * node, `TestRedisCluster`'s `proxied` mode) cut a node off from every process instead.
 */
export class NetworkLinks {
  private readonly links = new Map<string, ProcessLinks>();

  constructor(private readonly targetPorts: { redis: number | null; postgres: number }) {}

  /** The process's links, opened on first use. */
  async open(name: string): Promise<ProcessLinks> {
    let links = this.links.get(name);
    if (!links) {
      const redisPort = this.targetPorts.redis;
      const [redis, postgres] = await Promise.all([redisPort === null ? null : TcpProxy.start(redisPort), TcpProxy.start(this.targetPorts.postgres)]);
      links = { redis, postgres };
      this.links.set(name, links);
    }
    return links;
  }

  of(name: string, dependency: Dependency): TcpProxy {
    const links = this.links.get(name);
    if (!links) throw new Error(`${name} has no network links`);
    const link = links[dependency];
    if (!link) throw new Error(`${name} has no ${dependency} link: on a Redis Cluster processes dial the nodes the cluster announces`);
    return link;
  }

  /**
   * `DATABASE_URL` and `REDIS_URL` of a process: the dependencies' URLs through its own links (no
   * `REDIS_URL` on a Redis Cluster: every process gets the cluster's REDIS_CLUSTER_URLS instead).
   */
  async env(name: string, urls: { databaseUrl: string; redisUrl: string | null }): Promise<NodeJS.ProcessEnv> {
    const links = await this.open(name);
    return { DATABASE_URL: links.postgres.url(urls.databaseUrl), ...(links.redis && urls.redisUrl ? { REDIS_URL: links.redis.url(urls.redisUrl) } : {}) };
  }

  /** Every link forwarding again (after a fault that failed half-way, and before teardown). */
  healAll(): string[] {
    const healed: string[] = [];
    for (const [name, links] of this.links) {
      for (const dependency of ['redis', 'postgres'] as const) {
        const link = links[dependency];
        if (!link?.isBlackholed) continue;
        link.heal();
        healed.push(`${name}→${dependency}`);
      }
    }
    return healed;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.links.values()].flatMap((links) => [links.redis?.stop(), links.postgres.stop()]));
    this.links.clear();
  }
}
