import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { feedChannelName, type FeedChannel, type FeedHandlers, type FeedSubscriber } from '../../application';
import { connectionOptions, sendChunked, whenReady } from './redis-connections';
import { handFeedMessage } from './feed-wire';

export interface RedisFeedSubscriberOptions {
  url: string;
  prefix: string;
  commandTimeoutMs: number;
  probeIntervalMs: number;
  /** Publishes a probe message on a channel (without prefix). */
  probe(channel: string, text: string): Promise<void>;
  handlers: FeedHandlers;
  onClosed(): void;
}

/**
 * One receiver's connection for sharded pub/sub: it subscribes to the channels the receiver asks for,
 * subscribes to all of them again on every new connection (after telling the receiver, which then
 * treats everything as possibly missed), and proves itself alive with a probe message of its own, so
 * a connection that is open but no longer delivers is noticed and replaced.
 */
export class RedisFeedSubscriber implements FeedSubscriber {
  private readonly connection: Redis;
  /** Every channel asked for, by its full name. */
  private readonly channels = new Map<string, FeedChannel>();
  private readonly probeChannel = `__parley_probe:${randomUUID()}`;
  private readonly probeName: string;
  private readonly probeTimer: NodeJS.Timeout;
  /** Never, until the first probe comes back: a subscriber is not healthy before it has proven itself. */
  private lastProbeSeen = 0;
  private readySince = 0;
  private closed = false;

  constructor(private readonly options: RedisFeedSubscriberOptions) {
    this.probeName = `${options.prefix}${this.probeChannel}`;
    // Subscribed anew on every connection, rather than replaying whatever the old one had.
    this.connection = new Redis(options.url, { ...connectionOptions(options.commandTimeoutMs), autoResubscribe: false, maxRetriesPerRequest: null });
    this.connection.on('error', (error) => options.handlers.onError(error));
    this.connection.on('ready', () => this.onReady());
    this.connection.on('smessage', (channel: string, text: string) => {
      try {
        this.onMessage(channel, text);
      } catch (error) {
        options.handlers.onError(error);
      }
    });
    this.probeTimer = setInterval(() => this.probe(), options.probeIntervalMs);
    this.probeTimer.unref();
  }

  get channelCount(): number {
    return this.channels.size;
  }

  async subscribe(channels: FeedChannel[]): Promise<void> {
    const names = channels.map((channel) => this.name(channel));
    channels.forEach((channel, i) => this.channels.set(names[i]!, channel));
    if (names.length === 0) return;
    await this.whenReady();
    // Only what is still wanted: an unsubscribe may have come while this waited.
    const wanted = names.filter((name) => this.channels.has(name));
    if (wanted.length === 0) return;
    try {
      await this.send('ssubscribe', wanted);
    } catch (error) {
      // Kept in the map but perhaps not subscribed in Redis, the channels would stay silent while ticks
      // go on proving their partition: a new connection subscribes every channel and fills what it missed.
      if (this.connection.status === 'ready') this.connection.disconnect(true);
      throw error;
    }
  }

  async unsubscribe(channels: FeedChannel[]): Promise<void> {
    const names = channels.map((channel) => this.name(channel)).filter((name) => this.channels.delete(name));
    if (names.length === 0 || this.connection.status !== 'ready') return;
    await this.send('sunsubscribe', names);
  }

  renew(partitions: readonly number[]): void {
    if (this.connection.status !== 'ready') return;
    const wanted = new Set(partitions);
    const names = [...this.channels].filter(([, channel]) => wanted.has(channel.partition)).map(([name]) => name);
    if (names.length === 0) return;
    this.options.handlers.resubscribing(partitions);
    this.send('ssubscribe', names).then(
      () => this.options.handlers.resubscribed(partitions),
      (error: unknown) => {
        this.options.handlers.onError(error);
        if (this.connection.status === 'ready') this.connection.disconnect(true);
      },
    );
  }

  /** True while the connection has delivered our own probe recently. */
  healthy(): boolean {
    return Date.now() - this.lastProbeSeen < this.options.probeIntervalMs * 3;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.probeTimer);
    this.options.onClosed();
    await this.connection.quit().catch(() => this.connection.disconnect());
  }

  private name(channel: FeedChannel): string {
    return `${this.options.prefix}${feedChannelName(channel)}`;
  }

  private send(command: 'ssubscribe' | 'sunsubscribe', names: string[]): Promise<void> {
    return sendChunked(this.connection, command, names);
  }

  /** Waits for a connection being made, within a few command deadlines. */
  private whenReady(): Promise<void> {
    return whenReady(this.connection, this.options.commandTimeoutMs * 3, 'Redis subscriber');
  }

  private onReady(): void {
    this.readySince = Date.now();
    // Whatever was published while there was no connection went unheard: the receiver fills it in.
    this.options.handlers.resubscribing();
    this.send('ssubscribe', [this.probeName, ...this.channels.keys()]).then(() => this.options.handlers.resubscribed(), (error: unknown) => {
      // Not subscribed, this connection would only wait for the probe to find it deaf.
      this.options.handlers.onError(error);
      if (this.connection.status === 'ready') this.connection.disconnect(true);
    });
  }

  private probe(): void {
    const ready = this.connection.status === 'ready';
    if (ready && this.readySince > 0 && !this.healthy() && Date.now() - this.readySince > this.options.probeIntervalMs * 3) {
      this.options.handlers.onError(new Error('Redis subscriber connection is stale (no probe came back); reconnecting'));
      this.readySince = 0;
      this.connection.disconnect(true);
      return;
    }
    if (ready) this.options.probe(this.probeChannel, String(Date.now())).catch(() => undefined);
  }

  private onMessage(fullName: string, text: string): void {
    if (fullName === this.probeName) {
      this.lastProbeSeen = Date.now();
      return;
    }
    handFeedMessage(this.options.prefix, fullName, text, this.options.handlers);
  }
}
