import { Redis } from 'ioredis';
import { parseFeedChannelName } from '../src/application';
import type { RedisTarget } from '../src/infrastructure/redis/redis-connections';
import { TestRedisCluster } from '../test/support/redis-cluster';
import { freePort, TestRedisServer } from '../test/support/redis-server';
import { readRedisInfo } from './redis-info';
import { measureCluster, type ClusterFigures } from './cluster-figures';
import { measureInterestSpread, type SpreadFigures } from './interest-spread';

/** The idle reading before the posts: long enough for several ticks (2/s per partition) and a round of probes (every 2 s). */
const IDLE_MS = 2000;

/** One Redis node's share of the spread's measured posts (DESIGN.md §3: a partition's traffic on one master). */
export interface RedisNodeFigures {
  /** host:port */
  node: string;
  /** Ordering partitions whose channels the receivers subscribed on this node. */
  partitions: number;
  /** Chats of the spread whose channel is on this node. */
  chats: number;
  /** SPUBLISH calls on the node in the window (`INFO commandstats`; the relay's script counts each one it makes). */
  messages: number;
  /** Of those, the posts to its chats: one message each (the rest are the partitions' ticks and the receivers' probes). */
  rows: number;
  /** Rows pushed to a receiver: each post times the receivers subscribed to its chat's channel (`PUBSUB SHARDNUMSUB`). */
  deliveries: number;
  /** The node's CPU in the window (`INFO cpu`: used_cpu_user + used_cpu_sys). */
  cpuMs: number;
  /** Its CPU per second just before, with every subscription live and nothing posted: cron, cluster bus, ticks, probes. */
  idleCpuMsPerSecond: number;
  /** Its SPUBLISH calls per second then: the partitions' ticks and the receivers' probes. */
  idleMessagesPerSecond: number;
  /** Calls of the relay's publish script (EVALSHA/EVAL): one per partition's batch. */
  scriptCalls: number;
  /** Time inside those calls (`usec`, their SPUBLISHes included). */
  scriptMs: number;
}

export interface RedisTargetFigures {
  /** Delivery, fan-out and routing, as the main cluster scenario measures them. */
  reads: ClusterFigures;
  /** Users spread over receivers in many chats, each chat posted to equally. */
  spread: SpreadFigures;
  /** The spread's measured window, from the first post to the last frame. */
  seconds: number;
  nodes: RedisNodeFigures[];
  /** Posts to chats whose channel no node had a subscriber for (heard by nobody). */
  rowsWithoutSubscriber: number;
}

export interface RedisProfile {
  cluster: RedisTargetFigures;
  one: RedisTargetFigures;
}

export interface RedisProfileOptions {
  secret: string;
  fanout: number[];
  seconds: number;
  spread: { users: number; chats: number; receivers: number; posts: number };
  /** Runs the work on a fresh database (run.ts's `withDatabase`). */
  withDatabase<T>(work: (databaseUrl: string) => Promise<T>): Promise<T>;
}

/**
 * The cluster profile of `npm run bench`: a local Redis Cluster of 3 masters (no replicas) and a private
 * redis-server, both started here and stopped at the end, and the same scenarios against each in one
 * run, in turns (cluster then one Redis for delivery, fan-out and routing; one Redis then cluster for
 * the spread), so that the machine's other work weighs on both alike.
 *
 * Per Redis node, over the spread's measured posts: the messages it carried, the rows among them and
 * how many receivers each went to, and its CPU. Redis 7.0 counts no deliveries, so those are the
 * posts per chat (what the bench sent, every frame of which it saw arrive) times the subscribers its
 * channel had on its node (`PUBSUB SHARDNUMSUB`, read before the posts).
 */
export async function measureRedisProfile(options: RedisProfileOptions): Promise<RedisProfile> {
  let cluster: TestRedisCluster | null = null;
  const one = new TestRedisServer(await freePort());
  try {
    cluster = await TestRedisCluster.start({ masters: 3, replicasPerMaster: 0 });
    await one.start();
    const masters = await cluster.masters();
    const targets = {
      cluster: { redis: { cluster: cluster.seeds } as RedisTarget, nodes: masters.map((master) => ({ host: master.host, port: master.realPort })) },
      one: { redis: { url: one.url } as RedisTarget, nodes: [{ host: '127.0.0.1', port: one.port }] },
    };
    const reads = (which: keyof typeof targets) =>
      options.withDatabase((url) => measureCluster(url, targets[which].redis, options.secret, options.fanout, options.seconds, 'reads'));
    const spread = (which: keyof typeof targets) => options.withDatabase((url) => spreadByNode(url, targets[which].redis, targets[which].nodes, options));
    const clusterReads = await reads('cluster');
    const oneReads = await reads('one');
    const oneSpread = await spread('one');
    const clusterSpread = await spread('cluster');
    return { cluster: { reads: clusterReads, ...clusterSpread }, one: { reads: oneReads, ...oneSpread } };
  } finally {
    await one.stop();
    await cluster?.stop();
  }
}

/** The spread, with every node's counters read at the start and the end of its measured posts. */
async function spreadByNode(
  databaseUrl: string,
  redis: RedisTarget,
  addresses: { host: string; port: number }[],
  options: RedisProfileOptions,
): Promise<Omit<RedisTargetFigures, 'reads'>> {
  const nodes = addresses.map((address) => {
    const connection = new Redis({ ...address, maxRetriesPerRequest: 1, retryStrategy: () => null });
    connection.on('error', () => undefined);
    return { name: `${address.host}:${address.port}`, connection };
  });
  try {
    let idle: NodeReading[] = [];
    let before: NodeReading[] = [];
    let after: NodeReading[] = [];
    let channels: ShardChannels[] = [];
    let idleSeconds = 0;
    let started = 0;
    let ended = 0;
    const read = () => Promise.all(nodes.map((node) => reading(node.connection)));
    const spread = await measureInterestSpread(databaseUrl, redis, options.secret, options.spread, {
      before: async () => {
        channels = await Promise.all(nodes.map((node) => shardChannels(node.connection)));
        idle = await read();
        const idleFrom = performance.now();
        // A measuring window with nothing posted, not a wait for an effect.
        await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
        before = await read();
        started = performance.now();
        idleSeconds = (started - idleFrom) / 1000;
      },
      after: async () => {
        ended = performance.now();
        after = await read();
      },
    });
    const placed = new Set<string>();
    const figures = nodes.map((node, i): RedisNodeFigures => {
      let rows = 0;
      let deliveries = 0;
      for (const [chatId, subscribers] of channels[i]!.chats) {
        const posts = spread.postsByChat.get(chatId) ?? 0;
        placed.add(chatId);
        rows += posts;
        deliveries += posts * subscribers;
      }
      return {
        node: node.name,
        partitions: channels[i]!.partitions,
        chats: channels[i]!.chats.size,
        messages: after[i]!.spublish - before[i]!.spublish,
        rows,
        deliveries,
        cpuMs: Math.round((after[i]!.cpuSeconds - before[i]!.cpuSeconds) * 1e4) / 10,
        idleCpuMsPerSecond: Math.round(((before[i]!.cpuSeconds - idle[i]!.cpuSeconds) * 1e4) / idleSeconds) / 10,
        idleMessagesPerSecond: Math.round(((before[i]!.spublish - idle[i]!.spublish) * 10) / idleSeconds) / 10,
        scriptCalls: after[i]!.scripts - before[i]!.scripts,
        scriptMs: Math.round((after[i]!.scriptUsec - before[i]!.scriptUsec) / 100) / 10,
      };
    });
    let rowsWithoutSubscriber = 0;
    for (const [chatId, posts] of spread.postsByChat) if (!placed.has(chatId)) rowsWithoutSubscriber += posts;
    return { spread, seconds: Math.round(ended - started) / 1000, nodes: figures, rowsWithoutSubscriber };
  } finally {
    for (const node of nodes) node.connection.disconnect();
  }
}

interface NodeReading {
  cpuSeconds: number;
  spublish: number;
  scripts: number;
  scriptUsec: number;
}

async function reading(connection: Redis): Promise<NodeReading> {
  const { cpuSeconds, commands } = await readRedisInfo(connection);
  const command = (name: string) => commands.get(name) ?? { calls: 0, usec: 0 };
  return {
    cpuSeconds,
    spublish: command('spublish').calls,
    scripts: command('evalsha').calls + command('eval').calls,
    scriptUsec: command('evalsha').usec + command('eval').usec,
  };
}

/** A node's feed channels with subscribers now: the partitions they are of, and each chat's subscriber count. */
interface ShardChannels {
  partitions: number;
  chats: Map<string, number>;
}

async function shardChannels(connection: Redis): Promise<ShardChannels> {
  const names = (await connection.call('PUBSUB', 'SHARDCHANNELS')) as string[];
  const partitions = new Set<number>();
  // By partition: one slot each, so each SHARDNUMSUB names channels of one slot.
  const chatChannels = new Map<number, { name: string; chatId: string }[]>();
  for (const name of names) {
    // The deployment's prefix comes before the partition's hash tag.
    const channel = parseFeedChannelName(name.slice(name.indexOf('{')));
    if (!channel) continue;
    partitions.add(channel.partition);
    if (channel.kind !== 'chat') continue;
    const list = chatChannels.get(channel.partition) ?? [];
    list.push({ name, chatId: channel.chatId });
    chatChannels.set(channel.partition, list);
  }
  const chats = new Map<string, number>();
  for (const list of chatChannels.values()) {
    const answer = (await connection.call('PUBSUB', 'SHARDNUMSUB', ...list.map((channel) => channel.name))) as (string | number)[];
    list.forEach((channel, i) => chats.set(channel.chatId, Number(answer[2 * i + 1])));
  }
  return { partitions: partitions.size, chats };
}
