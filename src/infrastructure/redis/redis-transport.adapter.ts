import { randomUUID } from 'node:crypto';
import Redis, { type RedisOptions } from 'ioredis';
import { CHANNELS, EventTransport, isCursor, type ChannelMessage, type ChannelName, type PublishOutcome, type RelayedRecord } from '../../application';
import { WireWriter } from './wire-writer';
import { splicedWireMessages } from './wire-splice';

export interface RedisTransportOptions {
  url: string;
  prefix: string;
  /** How often the subscriber connection is proven alive by a message through Redis. */
  probeIntervalMs?: number;
  /** How long any one Redis command may take before it fails and its connection is replaced (1000 ms). */
  commandTimeoutMs?: number;
  onError(error: unknown): void;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
/** Idle time before TCP keepalive probes start: a peer gone without a FIN is found on an idle connection too. */
const KEEPALIVE_DELAY_MS = 1000;
/** A TCP connect that takes longer is abandoned and retried with backoff. */
const CONNECT_TIMEOUT_MS = 2000;
/** How long a publish waits for a connection that is being made. */
const READY_WAIT_MS = 1000;
/** A closing connection whose peer does not answer our FIN (a blackhole) is destroyed after this. */
const DISCONNECT_TIMEOUT_MS = 200;

/** The wire format of DESIGN.md §3: `{ "<channel>": payload, "meta": {…} }`, plus the relay's ordering fields. */
interface WireMessage {
  meta: ChannelMessage['meta'] & { position: string; previous?: string; index: number; count: number };
  [channel: string]: unknown;
}

const PROBE_CHANNEL = '__parley_probe';
/** Holds the newest relay leadership epoch that has published (docs/architecture.md, Leadership). */
export const RELAY_EPOCH_KEY = '__parley_relay_epoch';

/**
 * One batch, all or nothing, in one round trip. KEYS[1] is the fencing key; ARGV[1] the publisher's epoch
 * ('' for an unfenced replay); then channel and message, pair by pair. A script runs atomically in Redis,
 * so once any epoch has published no lower one can: the batch is refused whole and the stored epoch
 * answered. Answers -1 when published.
 */
const FENCED_PUBLISH = `
if ARGV[1] ~= '' then
  local mine = tonumber(ARGV[1])
  local current = tonumber(redis.call('GET', KEYS[1]) or '0')
  if current > mine then return current end
  if current < mine then redis.call('SET', KEYS[1], ARGV[1]) end
end
for i = 2, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return -1`;

/** The script as a command: `[key, epoch, channel, message, …]` in one array (ioredis flattens it). */
type FencedPublisher = Redis & { parleyFencedPublish(keyEpochChannelsAndMessages: string[]): Promise<number> };

/**
 * Redis pub/sub between the relay and the receivers. Publisher and subscriber are separate
 * connections that reconnect with backoff; the subscriber resubscribes and is probed with a message
 * of its own, so a connection that is open but no longer delivers is noticed and replaced.
 */
export class RedisTransport extends EventTransport {
  private readonly publisher: FencedPublisher;
  private subscriber: Redis | null = null;
  private readonly listeners = new Set<(record: RelayedRecord) => void>();
  private readonly missedListeners = new Set<() => void>();
  private building: { position: string; previous?: string; count: number; messages: ChannelMessage[] } | null = null;
  private readonly instance = randomUUID();
  private probeTimer: NodeJS.Timeout | null = null;
  /** Never, until the first probe comes back: a subscriber is not healthy before it has proven itself. */
  private lastProbeSeen = 0;
  private readySince = 0;
  private readonly probeIntervalMs: number;
  private readonly commandTimeoutMs: number;
  /** Counts the publisher's connections, so that only a timeout on the current one replaces it. */
  private publisherConnection = 0;
  /** Made once: every message received is checked against it. */
  private readonly probePrefix: string;

  constructor(private readonly options: RedisTransportOptions) {
    super();
    this.probeIntervalMs = options.probeIntervalMs ?? 2000;
    this.probePrefix = this.channelName(PROBE_CHANNEL);
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    // Publishing fails at once while Redis is away: the relay backs off and resumes from its checkpoint.
    this.publisher = new Redis(options.url, {
      ...connectionOptions(this.commandTimeoutMs),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: false,
    }) as FencedPublisher;
    // EVALSHA, falling back to EVAL when Redis does not know the script (first use, after a restart).
    this.publisher.defineCommand('parleyFencedPublish', { numberOfKeys: 1, lua: FENCED_PUBLISH });
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
      if (isTimeout(error) && connection === this.publisherConnection && this.publisher.status === 'ready') {
        this.options.onError(new Error(`Redis publisher: no answer within ${this.commandTimeoutMs} ms; replacing the connection`));
        this.publisherConnection++;
        this.publisher.disconnect(true);
      }
      throw error;
    }
  }

  private channelName(channel: string): string {
    return `${this.options.prefix}${channel}`;
  }

  async publish(records: RelayedRecord[], epoch?: number): Promise<PublishOutcome> {
    await this.publisherReady();
    // One array rather than spread arguments: a large batch would pass the engine's argument limit.
    const args = [this.channelName(RELAY_EPOCH_KEY), epoch === undefined ? '' : String(epoch)];
    const wire = new WireWriter();
    for (const record of records) {
      const spliced = record.stored ? spliceOrNull(record.stored, record) : null;
      if (spliced) for (const message of spliced) args.push(this.channelName(message.channel), message.text);
      else record.messages.forEach((message, index) => args.push(this.channelName(message.channel), wire.message(record, message, index)));
    }
    const answer = await this.onPublisher(() => this.publisher.parleyFencedPublish(args));
    return answer === -1 ? { published: true } : { published: false, fencedBy: Number(answer) };
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

  subscribe(listener: (record: RelayedRecord) => void, mayHaveMissed?: () => void): () => void {
    this.listeners.add(listener);
    if (mayHaveMissed) this.missedListeners.add(mayHaveMissed);
    if (!this.subscriber) this.openSubscriber();
    return () => {
      this.listeners.delete(listener);
      if (mayHaveMissed) this.missedListeners.delete(mayHaveMissed);
    };
  }

  /** True while the subscriber connection has delivered our own probe recently. */
  subscriberHealthy(): boolean {
    return this.subscriber !== null && Date.now() - this.lastProbeSeen < this.probeIntervalMs * 3;
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
    if (this.probeTimer) clearInterval(this.probeTimer);
    const connections = [this.publisher, this.subscriber].filter((c): c is Redis => c !== null);
    this.subscriber = null;
    await Promise.all(connections.map((connection) => connection.quit().catch(() => connection.disconnect())));
  }

  private openSubscriber(): void {
    // Subscribed anew on every connection, rather than replaying whatever the old one had.
    const subscriber = new Redis(this.options.url, { ...connectionOptions(this.commandTimeoutMs), autoResubscribe: false, maxRetriesPerRequest: null });
    this.subscriber = subscriber;
    subscriber.on('error', (error) => this.options.onError(error));
    subscriber.on('ready', () => {
      this.building = null;
      this.readySince = Date.now();
      subscriber
        .subscribe(...CHANNELS.map((channel) => this.channelName(channel)), this.channelName(`${PROBE_CHANNEL}:${this.instance}`))
        // Every (re)subscription may have lost messages: subscribers read them from the store.
        .then(() => this.missedListeners.forEach((missed) => missed()))
        .catch((error: unknown) => {
          // Not subscribed, this connection would only wait for the probe to find it deaf.
          this.options.onError(error);
          if (this.subscriber === subscriber && subscriber.status === 'ready') subscriber.disconnect(true);
        });
    });
    subscriber.on('message', (channel: string, text: string) => {
      // Anyone may publish on these channels; nothing they send may take the receiver down.
      try {
        this.onMessage(channel, text);
      } catch (error) {
        this.building = null;
        this.options.onError(error);
      }
    });
    this.probeTimer = setInterval(() => this.probe(), this.probeIntervalMs);
    this.probeTimer.unref();
  }

  private probe(): void {
    if (!this.subscriber) return;
    const ready = this.subscriber.status === 'ready';
    if (ready && this.readySince > 0 && !this.subscriberHealthy() && Date.now() - this.readySince > this.probeIntervalMs * 3) {
      this.options.onError(new Error('Redis subscriber connection is stale (no probe came back); reconnecting'));
      this.readySince = 0;
      this.subscriber.disconnect(true);
      return;
    }
    this.onPublisher(() => this.publisher.publish(this.channelName(`${PROBE_CHANNEL}:${this.instance}`), String(Date.now()))).catch(() => undefined);
  }

  private onMessage(channel: string, text: string): void {
    if (channel.startsWith(this.probePrefix)) {
      this.lastProbeSeen = Date.now();
      return;
    }
    const name = channel.slice(this.options.prefix.length) as ChannelName;
    const { message, position, previous, index, count } = parseWireMessage(name, text, this.options.onError);
    // Reassemble the outbox row; a row missing a part is dropped whole and read from the store instead.
    if (!this.building || this.building.position !== position || index !== this.building.messages.length) {
      this.building = index === 0 ? { position, previous, count, messages: [] } : null;
      if (!this.building) return;
    }
    this.building.messages.push(message);
    if (this.building.messages.length === this.building.count) {
      const record: RelayedRecord = { position, previous: this.building.previous, messages: this.building.messages };
      this.building = null;
      for (const listener of this.listeners) listener(record);
    }
  }
}

/** How a wire message of each channel begins, made once rather than per message. */
const WIRE_HEADS = new Map<string, string>(CHANNELS.map((channel) => [channel, `{${JSON.stringify(channel)}:`]));

/**
 * A wire message as the router needs it. Routing needs only `meta`, which the relay writes last: it is
 * parsed at once, and the payload only when a subscriber here needs it (most receivers have nobody in
 * most chats). A message laid out otherwise is parsed whole. A payload that turns out malformed reads
 * as `{}`: its subscribers' payloads fail, and they resume from the outbox.
 */
function parseWireMessage(name: ChannelName, text: string, onError: (error: unknown) => void) {
  const head = WIRE_HEADS.get(name) ?? `{${JSON.stringify(name)}:`;
  const metaAt = text.lastIndexOf(',"meta":');
  if (!text.startsWith(head) || metaAt < head.length || !text.endsWith('}')) return fromWhole(name, JSON.parse(text));
  const wireMeta = JSON.parse(text.slice(metaAt + ',"meta":'.length, -1)) as WireMessage['meta'];
  if (!isWireMessage({ meta: wireMeta })) throw new Error(`ignored a malformed message on ${name}`);
  const { position, previous, index, count, ...meta } = wireMeta;
  const raw = text.slice(head.length, metaAt);
  let payload: Record<string, unknown> | null = null;
  const message: ChannelMessage = {
    channel: name,
    meta,
    get payload() {
      if (payload === null) {
        try {
          payload = JSON.parse(raw) as Record<string, unknown>;
        } catch (error) {
          onError(error);
          payload = {};
        }
      }
      return payload;
    },
  };
  return { message, position, previous, index, count };
}

function fromWhole(name: ChannelName, wire: unknown) {
  if (!isWireMessage(wire)) throw new Error(`ignored a malformed message on ${name}`);
  const { position, previous, index, count, ...meta } = wire.meta;
  const message: ChannelMessage = { channel: name, payload: wire[name] as Record<string, unknown>, meta };
  return { message, position, previous, index, count };
}

function isWireMessage(value: unknown): value is WireMessage {
  const meta = (value as { meta?: Record<string, unknown> } | null)?.meta;
  return (
    typeof meta === 'object' && meta !== null &&
    typeof meta.position === 'string' && isCursor(meta.position) &&
    typeof meta.cursor === 'string' && isCursor(meta.cursor) &&
    typeof meta.chatId === 'string' &&
    Number.isInteger(meta.index) && Number.isInteger(meta.count) && (meta.count as number) > (meta.index as number)
  );
}

/** The spliced wire messages, or null for the parsed path to decide (also when the text is not JSON at all). */
function spliceOrNull(stored: NonNullable<RelayedRecord['stored']>, record: RelayedRecord) {
  try {
    return splicedWireMessages(stored.json, stored.cursor, record);
  } catch {
    return null;
  }
}

/**
 * What every connection gets, so that nothing waits without a deadline (DESIGN.md §5). A command that
 * timed out is never sent again by ioredis on a new connection: its caller was told it failed (the relay
 * publishes again from its checkpoint; the subscriber subscribes afresh on every connection).
 */
function connectionOptions(commandTimeoutMs: number): RedisOptions {
  return {
    retryStrategy: backoff,
    commandTimeout: commandTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
    keepAlive: KEEPALIVE_DELAY_MS,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    autoResendUnfulfilledCommands: false,
  };
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

function backoff(attempt: number): number {
  return Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
}
