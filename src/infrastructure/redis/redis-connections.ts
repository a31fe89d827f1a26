import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';

/** Idle time before TCP keepalive probes start: a peer gone without a FIN is found on an idle connection too. */
const KEEPALIVE_DELAY_MS = 1000;
/** A TCP connect that takes longer is abandoned and retried with backoff. */
const CONNECT_TIMEOUT_MS = 2000;
/** A closing connection whose peer does not answer our FIN (a blackhole) is destroyed after this. */
const DISCONNECT_TIMEOUT_MS = 200;

/**
 * What every connection gets, so that nothing waits without a deadline (DESIGN.md §5). A command that
 * timed out is never sent again by ioredis on a new connection: its caller was told it failed (the relay
 * publishes again from its checkpoint; the subscriber subscribes afresh on every connection).
 */
export function connectionOptions(commandTimeoutMs: number): RedisOptions {
  return {
    // RESP2: ioredis 6 speaks RESP3 by default, which cost 25–35 % more CPU per sharded message here
    // (publish and receive, measured beside ioredis 5); Parley needs nothing RESP3 adds, and ioredis 6
    // recognises a cluster's unrequested `sunsubscribe` on RESP2 too.
    protocol: 2,
    retryStrategy: backoff,
    commandTimeout: commandTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
    keepAlive: KEEPALIVE_DELAY_MS,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    autoResendUnfulfilledCommands: false,
  };
}

export function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

function backoff(attempt: number): number {
  return Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
}

/** Where Redis is: one server (`REDIS_URL`) or the seed nodes of a Redis Cluster (`REDIS_CLUSTER_URLS`). */
export type RedisTarget = { url: string } | { cluster: string[] };

/** How often a cluster client reads the slots map again, so that a promotion or a moved slot is seen soon. */
const SLOTS_REFRESH_INTERVAL_MS = 1000;

/**
 * A command connection to the target: a `Redis`, or a `Cluster` that routes each command to the master
 * owning its key's slot (following `MOVED`/`ASK`, waiting out `TRYAGAIN`/`CLUSTERDOWN` briefly). Both
 * answer the commands Parley uses in the same way.
 */
export function commandConnection(target: RedisTarget, options: RedisOptions): Redis | Cluster {
  if ('url' in target) return new Redis(target.url, options);
  const seeds = target.cluster.map(seedNode);
  return new Cluster(
    seeds.map(({ host, port }) => ({ host, port })),
    clusterOptions(seeds[0]!.options, options),
  );
}

/** The options every node connection of a cluster gets: credentials and TLS of the first seed, and `base`. */
export function nodeOptions(target: { cluster: string[] }, base: RedisOptions): RedisOptions {
  return { ...seedNode(target.cluster[0]!).options, ...base };
}

function clusterOptions(seedOptions: RedisOptions, base: RedisOptions): ClusterOptions {
  return {
    redisOptions: { ...seedOptions, ...base },
    clusterRetryStrategy: backoff,
    enableOfflineQueue: base.enableOfflineQueue ?? true,
    lazyConnect: base.lazyConnect ?? false,
    // Reading the slots map is one command, but the first one may wait for its connection: never under the connect timeout.
    slotsRefreshTimeout: Math.max(base.commandTimeout ?? 0, CONNECT_TIMEOUT_MS),
    slotsRefreshInterval: SLOTS_REFRESH_INTERVAL_MS,
    // Commands go to masters: a replica may lag, and a fencing key must be read where it is written.
    scaleReads: 'master',
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
  };
}

function seedNode(url: string): { host: string; port: number; options: RedisOptions } {
  const parsed = new URL(url);
  const options: RedisOptions = {};
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port || 6379), options };
}

/** Channels per SSUBSCRIBE / SUNSUBSCRIBE: thousands of chats cost a few round trips, and no command grows without bound. */
const CHANNELS_PER_COMMAND = 1000;

/** Sends a sharded (un)subscribe in chunks, one after the other; on a cluster the names must share a slot. */
export async function sendChunked(connection: Redis, command: 'ssubscribe' | 'sunsubscribe', names: string[]): Promise<void> {
  for (let i = 0; i < names.length; i += CHANNELS_PER_COMMAND) {
    await connection[command](...names.slice(i, i + CHANNELS_PER_COMMAND));
  }
}

/** Waits for a connection being made, within `deadlineMs`; fails naming `what` and its status. */
export async function whenReady(connection: Redis, deadlineMs: number, what: string): Promise<void> {
  if (connection.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      connection.off('ready', done);
      reject(new Error(`${what} is ${connection.status}`));
    }, deadlineMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    connection.once('ready', done);
  });
}
