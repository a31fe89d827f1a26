import type { Cluster, Redis } from 'ioredis';
import type { TypingSignal } from '../../domain';
import {
  EventTransport,
  type ChatAddress,
  type EphemeralPublisher,
  type PresenceSignal,
  epochKey,
  partitionSlot,
  partitionTag,
  feedChannelName,
  rowChannels,
  type FeedHandlers,
  type FeedSubscriber,
  type PublishOptions,
  type PublishOutcome,
  type RelayedRecord,
  Unavailable,
} from '../../application';
import { commandConnection, connectionOptions, isTimeout, nodeOptions, type RedisTarget } from './redis-connections';
import { rowWireText, signalWireText, tickWireText } from './feed-wire';
import { RedisFeedSubscriber } from './redis-feed-subscriber';
import { RedisClusterFeedSubscriber, type MovedReason } from './redis-cluster-feed-subscriber';

export interface RedisTransportOptions {
  /** One Redis server. */
  url?: string;
  /** Or the seed nodes of a Redis Cluster (`redis://host:port` each). */
  cluster?: string[];
  prefix: string;
  /** How often a subscriber connection is proven alive by a message through Redis. */
  probeIntervalMs?: number;
  /** How long any one Redis command may take before it fails and its connection is replaced (1000 ms). */
  commandTimeoutMs?: number;
  onError(error: unknown): void;
  /**
   * On a cluster: partitions subscribed anew because Redis dropped their subscription (an unrequested
   * `sunsubscribe`: a slot migrated or a master demoted), their slot has a new owner (a promotion), or a
   * subscribe failed. Each is then filled from the outbox.
   */
  onMoved?(partitions: number, reason: MovedReason): void;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
/** How long a publish waits for a connection that is being made. */
const READY_WAIT_MS = 1000;

/**
 * One partition's batch, all or nothing, in one round trip. KEYS[1] is the partition's fencing key;
 * ARGV[1] the publisher's epoch ('' for an unfenced replay); then channel and message, pair by pair. A
 * script runs atomically in Redis, so once any epoch has published on the partition no lower one can:
 * the batch is refused whole and the stored epoch answered. Answers -1 when published, -2 when published
 * by an epoch that this call stored (a new leader's claim). The key and the channels carry the
 * partition's hash tag, so on a Redis Cluster they are in one slot, as a script needs.
 */
const FENCED_PUBLISH = `
local answer = -1
if ARGV[1] ~= '' then
  local mine = tonumber(ARGV[1])
  local current = tonumber(redis.call('GET', KEYS[1]) or '0')
  if current > mine then return current end
  if current < mine then
    redis.call('SET', KEYS[1], ARGV[1])
    answer = -2
  end
end
for i = 2, #ARGV, 2 do
  redis.call('SPUBLISH', ARGV[i], ARGV[i + 1])
end
return answer`;

/**
 * A typing signal, throttled cluster-wide in one round trip. KEYS[1] is the (chat, user) throttle key,
 * in the chat's partition slot like the channel ARGV[1]; ARGV[2] the message; ARGV[3] the window in ms;
 * ARGV[4] '1' for `isTyping: true`, which goes out only if no other did within the window. `false` is
 * never held back. Answers 1 when published.
 */
const THROTTLED_TYPING = `
if ARGV[4] == '1' and not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('SPUBLISH', ARGV[1], ARGV[2])
return 1`;

/** How long a new leader's epoch claim waits for a replica of its master to have it. */
const CLAIM_REPLICATED_WAIT_MS = 500;

/** The script as a command: `[key, epoch, channel, message, …]` in one array (ioredis flattens it). */
type FencedPublisher = (Redis | Cluster) & {
  parleyFencedPublish(keyEpochChannelsAndMessages: string[]): Promise<number>;
  parleyTyping(key: string, channel: string, message: string, windowMs: number, isTyping: string): Promise<number>;
};

/**
 * Redis sharded pub/sub between relays and receivers (DESIGN.md §3–§4), on one Redis or a Redis Cluster.
 * The publisher is one connection (on a cluster, one per master, routed by slot: a partition's fencing
 * key and channels share its hash tag, so the script runs on the master that owns them) that reconnects
 * with backoff; each receiver's subscriber has connections of its own (redis-feed-subscriber.ts, or
 * redis-cluster-feed-subscriber.ts with one per master in use).
 */
export class RedisTransport extends EventTransport implements EphemeralPublisher {
  private readonly publisher: FencedPublisher;
  private readonly subscribers = new Set<RedisFeedSubscriber | RedisClusterFeedSubscriber>();
  private readonly target: RedisTarget;
  private readonly commandTimeoutMs: number;
  /** Counts the publisher's connections, so that only a timeout on the current one replaces it. */
  private publisherConnection = 0;

  constructor(private readonly options: RedisTransportOptions) {
    super();
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    // Publishing fails at once while Redis is away: the relay backs off and resumes from its checkpoint.
    this.target = redisTarget(options);
    this.publisher = commandConnection(this.target, {
      ...connectionOptions(this.commandTimeoutMs),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: false,
    }) as FencedPublisher;
    // EVALSHA, falling back to EVAL when Redis does not know the script (first use, after a restart).
    this.publisher.defineCommand('parleyFencedPublish', { numberOfKeys: 1, lua: FENCED_PUBLISH });
    this.publisher.defineCommand('parleyTyping', { numberOfKeys: 1, lua: THROTTLED_TYPING });
    this.publisher.on('error', (error) => options.onError(error));
    this.publisher.on('ready', () => this.publisherConnection++);
  }

  /**
   * Runs a command on the publisher. A command past its deadline on a connection that claims to be
   * ready means the link carries nothing (a blackholed socket stays "ready" until TCP gives up, which
   * takes minutes): that connection is dropped and a new one made, rather than every later command
   * waiting out its deadline behind it.
   */
  private async onPublisher<T>(command: () => Promise<T>): Promise<T> {
    const connection = this.publisherConnection;
    try {
      return await command();
    } catch (error) {
      // On a cluster only the one master's link is stuck: the others keep publishing, and the stuck
      // one's partitions retry from their checkpoints until it answers or the cluster fails it over.
      if ('url' in this.target && isTimeout(error) && connection === this.publisherConnection && this.publisher.status === 'ready') {
        this.options.onError(new Error(`Redis publisher: no answer within ${this.commandTimeoutMs} ms; replacing the connection`));
        this.publisherConnection++;
        this.publisher.disconnect(true);
      }
      throw error;
    }
  }

  private name(channel: Parameters<typeof feedChannelName>[0]): string {
    return `${this.options.prefix}${feedChannelName(channel)}`;
  }

  async publish(partition: number, records: RelayedRecord[], options: PublishOptions = {}): Promise<PublishOutcome> {
    await this.publisherReady();
    // One array rather than spread arguments: a large batch would pass the engine's argument limit.
    const args = [`${this.options.prefix}${epochKey(partition)}`, options.epoch === undefined ? '' : String(options.epoch)];
    for (const record of records) {
      if (record.partition !== partition) throw new Error(`row ${record.position} is of partition ${record.partition}, not ${partition}`);
      const text = rowWireText(record);
      for (const channel of rowChannels(record)) args.push(this.name(channel), text);
    }
    if (options.tick !== undefined) args.push(this.name({ kind: 'tick', partition }), tickWireText(options.tick));
    const answer = await this.onPublisher(() => this.publisher.parleyFencedPublish(args));
    if (answer === -2) await this.claimReplicated(partition);
    return answer < 0 ? { published: true } : { published: false, fencedBy: Number(answer) };
  }

  /**
   * A new epoch stored on a cluster master waits (briefly) until a replica has it: a master that fails
   * before replicating it would leave the promoted replica with the old epoch, and a frozen former
   * leader's publishes would no longer be refused. Receivers do not rely on fencing alone (a stale
   * publish costs them a catch-up), so a replica that does not answer in time delays nothing further.
   * On one Redis there may be no replica to wait for.
   */
  private async claimReplicated(partition: number): Promise<void> {
    if ('url' in this.target) return;
    const cluster = this.publisher as Cluster;
    const owner = cluster.slots[partitionSlot(partition)]?.[0];
    const node = cluster.nodes('master').find((candidate) => `${candidate.options.host}:${candidate.options.port}` === owner);
    if (!node) return;
    try {
      // A master without replicas (a cluster built without them) has nobody to wait for.
      const role = (await node.call('ROLE')) as [string, number, unknown[]];
      if (role[0] !== 'master' || role[2].length === 0) return;
      // WAIT counts the writes of its own connection: the node's connection that ran the script.
      const acknowledged = await node.wait(1, CLAIM_REPLICATED_WAIT_MS);
      if (acknowledged === 0) throw new Error(`no replica acknowledged it within ${CLAIM_REPLICATED_WAIT_MS} ms`);
    } catch (error) {
      this.options.onError(new Error(`partition ${partition}: the new epoch may not be on a replica yet (${(error as Error).message})`));
    }
  }

  /** A client asked for this (`setTyping`): Redis out of reach is UNAVAILABLE (503, retry), not an internal error. */
  async publishTyping(chat: ChatAddress, signal: TypingSignal, throttleMs: number): Promise<boolean> {
    const channel = this.name({ kind: 'chat', ...chat });
    const key = `${this.options.prefix}${partitionTag(chat.partition)}:typing:${chat.chatId}:${signal.userId}`;
    const text = signalWireText(chat.chatId, { kind: 'typing', typing: signal });
    try {
      await this.publisherReady();
      const answer = await this.onPublisher(() => this.publisher.parleyTyping(key, channel, text, throttleMs, signal.isTyping ? '1' : '0'));
      return answer === 1;
    } catch {
      // The reason reaches the client: what failed, not the driver's words.
      throw new Unavailable('redis', 'the typing signal could not be published');
    }
  }

  /** One sharded publish per chat, sent together (on a cluster each goes to its slot's master). */
  async publishPresence(chats: readonly ChatAddress[], signal: PresenceSignal): Promise<void> {
    if (chats.length === 0) return;
    await this.publisherReady();
    await this.onPublisher(() =>
      Promise.all(chats.map((chat) => this.publisher.spublish(this.name({ kind: 'chat', ...chat }), signalWireText(chat.chatId, { kind: 'presence', presence: signal })))),
    );
  }

  /** A raw sharded publish, for probes: `channel` without the prefix. */
  async publishRaw(channel: string, text: string): Promise<void> {
    await this.onPublisher(() => this.publisher.spublish(`${this.options.prefix}${channel}`, text));
  }

  /**
   * Classic `PUBLISH` of each (channel, text) in one pipeline, prefix applied: the original global
   * channels for integrations (DESIGN.md §3, relay/broadcast-channels.ts). Unfenced and outside the
   * partitions' slots; Parley's receivers never read them.
   */
  async publishClassic(messages: readonly (readonly [channel: string, text: string])[]): Promise<void> {
    if (messages.length === 0) return;
    await this.publisherReady();
    const pipeline = this.publisher.pipeline();
    for (const [channel, text] of messages) pipeline.publish(`${this.options.prefix}${channel}`, text);
    const answers = await this.onPublisher(() => pipeline.exec());
    const failed = answers?.find(([error]) => error !== null);
    if (failed) throw failed[0];
  }

  subscriber(handlers: FeedHandlers): FeedSubscriber {
    const subscriber = 'url' in this.target ? this.standaloneSubscriber(this.target.url, handlers) : this.clusterSubscriber(this.target, handlers);
    this.subscribers.add(subscriber);
    return subscriber;
  }

  private clusterSubscriber(target: { cluster: string[] }, handlers: FeedHandlers): RedisClusterFeedSubscriber {
    const subscriber: RedisClusterFeedSubscriber = new RedisClusterFeedSubscriber({
      cluster: this.publisher as Cluster,
      redisOptions: nodeOptions(target, connectionOptions(this.commandTimeoutMs)),
      prefix: this.options.prefix,
      commandTimeoutMs: this.commandTimeoutMs,
      probeIntervalMs: this.options.probeIntervalMs ?? 2000,
      probe: (channel, text) => this.publishRaw(channel, text),
      handlers,
      onMoved: this.options.onMoved,
      onClosed: () => this.subscribers.delete(subscriber),
    });
    return subscriber;
  }

  private standaloneSubscriber(url: string, handlers: FeedHandlers): RedisFeedSubscriber {
    const subscriber: RedisFeedSubscriber = new RedisFeedSubscriber({
      url,
      prefix: this.options.prefix,
      commandTimeoutMs: this.commandTimeoutMs,
      probeIntervalMs: this.options.probeIntervalMs ?? 2000,
      probe: (channel, text) => this.publishRaw(channel, text),
      handlers,
      onClosed: () => this.subscribers.delete(subscriber),
    });
    return subscriber;
  }

  /** True while every subscriber connection has delivered its own probe recently. */
  subscriberHealthy(): boolean {
    return [...this.subscribers].every((subscriber) => subscriber.healthy());
  }

  /** A connection still (re)connecting gets a moment; one that is down fails the publish at once. */
  private async publisherReady(): Promise<void> {
    if (this.publisher.status === 'ready') return;
    if (this.publisher.status === 'connecting' || this.publisher.status === 'connect') {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.publisher.off('ready', done);
          resolve();
        };
        const timer = setTimeout(done, READY_WAIT_MS);
        this.publisher.once('ready', done);
      });
    }
    const status: string = this.publisher.status;
    if (status !== 'ready') throw new Error(`Redis publisher is ${status}`);
  }

  /** Whether the publisher connection answers PING within the command deadline (after waiting for one being made). */
  async publisherHealthy(): Promise<boolean> {
    try {
      await this.publisherReady();
      return (await this.onPublisher(() => this.publisher.ping())) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscribers].map((subscriber) => subscriber.close()));
    await this.publisher.quit().catch(() => this.publisher.disconnect());
  }
}

function redisTarget(options: RedisTransportOptions): RedisTarget {
  if (options.url && !options.cluster) return { url: options.url };
  if (options.cluster && options.cluster.length > 0 && !options.url) return { cluster: options.cluster };
  throw new Error('RedisTransport needs either a url or the seed nodes of a cluster');
}
