import type { TypingSignal } from '../../domain';
import {
  EventTransport,
  type ChatAddress,
  type EphemeralPublisher,
  type EphemeralSignal,
  type PresenceSignal,
  feedChannelName,
  rowChannels,
  type FeedChannel,
  type FeedHandlers,
  type FeedSubscriber,
  type PublishOutcome,
  type PublishOptions,
  type RelayedRecord,
} from '../../application';

/**
 * The transport when every role runs in one process (no REDIS_URL): a synchronous local bus with the
 * channels of Redis, so receivers hear only what they follow, as they do on Redis. There is one relay
 * per process and no leadership, so an epoch has nothing to be fenced against.
 */
export class InProcessTransport extends EventTransport implements EphemeralPublisher {
  private readonly byChannel = new Map<string, Set<FeedHandlers>>();
  /** (chat, user) → until when an `isTyping: true` is held back (ms, on the signals' own clock). */
  private readonly typingThrottle = new Map<string, number>();

  constructor(private readonly onListenerError: (error: unknown) => void = () => undefined) {
    super();
  }

  async publish(partition: number, records: RelayedRecord[], options: PublishOptions = {}): Promise<PublishOutcome> {
    for (const record of records) {
      for (const channel of rowChannels(record)) this.each(channel, (handlers) => handlers.row(record));
    }
    const head = options.tick;
    if (head !== undefined) this.each({ kind: 'tick', partition }, (handlers) => handlers.tick(partition, head));
    return { published: true };
  }

  async publishTyping(chat: ChatAddress, signal: TypingSignal, throttleMs: number): Promise<boolean> {
    if (signal.isTyping) {
      const key = `${chat.chatId}\n${signal.userId}`;
      if ((this.typingThrottle.get(key) ?? -Infinity) > signal.at) return false;
      this.forgetThrottlesBefore(signal.at);
      this.typingThrottle.set(key, signal.at + throttleMs);
    }
    this.signal(chat, { kind: 'typing', typing: signal });
    return true;
  }

  async publishPresence(chats: readonly ChatAddress[], signal: PresenceSignal): Promise<void> {
    for (const chat of chats) this.signal(chat, { kind: 'presence', presence: signal });
  }

  private signal(chat: ChatAddress, signal: EphemeralSignal): void {
    this.each({ kind: 'chat', ...chat }, (handlers) => handlers.signal?.(chat.partition, chat.chatId, signal));
  }

  /** Windows that have passed hold nothing back: forgotten, so the map holds only recent typists. */
  private forgetThrottlesBefore(now: number): void {
    if (this.typingThrottle.size < 1000) return;
    for (const [key, until] of this.typingThrottle) if (until <= now) this.typingThrottle.delete(key);
  }

  subscriber(handlers: FeedHandlers): FeedSubscriber {
    const mine = new Set<string>();
    const bus = this.byChannel;
    const leave = (name: string) => {
      mine.delete(name);
      const set = bus.get(name);
      set?.delete(handlers);
      if (set?.size === 0) bus.delete(name);
    };
    return {
      get channelCount() {
        return mine.size;
      },
      async subscribe(channels: FeedChannel[]) {
        for (const name of channels.map(feedChannelName)) {
          mine.add(name);
          let set = bus.get(name);
          if (!set) bus.set(name, (set = new Set()));
          set.add(handlers);
        }
      },
      async unsubscribe(channels: FeedChannel[]) {
        channels.map(feedChannelName).forEach(leave);
      },
      // A local bus drops nothing: there is nothing to renew.
      renew() {},
      async close() {
        [...mine].forEach(leave);
      },
    };
  }

  /** One failing receiver must not keep the record from the others. */
  private each(channel: FeedChannel, deliver: (handlers: FeedHandlers) => void): void {
    for (const handlers of this.byChannel.get(feedChannelName(channel)) ?? []) {
      try {
        deliver(handlers);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
