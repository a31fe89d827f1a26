import { randomUUID } from 'node:crypto';
import type { Cluster, RedisOptions } from 'ioredis';
import { feedChannelName, partitionSlot, partitionTag, type FeedChannel, type FeedHandlers, type FeedSubscriber } from '../../application';
import { NodeLink } from './cluster-node-link';
import { handFeedMessage } from './feed-wire';

export interface RedisClusterFeedSubscriberOptions {
  /** The cluster's view of which master owns which slot (its slots map, refreshed every second). */
  cluster: Cluster;
  /** Options of every node connection (auth, TLS, deadlines). */
  redisOptions: RedisOptions;
  prefix: string;
  commandTimeoutMs: number;
  probeIntervalMs: number;
  /** Publishes a probe message on a channel (without prefix), routed by its slot. */
  probe(channel: string, text: string): Promise<void>;
  handlers: FeedHandlers;
  /** Partitions are being subscribed anew, and why (a reason of `MOVED_REASONS`). */
  onMoved?(partitions: number, reason: MovedReason): void;
  onClosed(): void;
}

/** Why partitions were subscribed anew on a cluster, as the metric labels it. */
export type MovedReason = 'sunsubscribe' | 'new owner' | 'subscribe failed' | 'silent';

/** After a topology refresh that left a partition without an owner, the next try. */
const RELOCATE_RETRY_MS = 500;

/**
 * A receiver's sharded subscriptions on a Redis Cluster (DESIGN.md §3). A partition's channels share
 * its hash tag, so one slot, so one master: each partition is carried by the connection to the master
 * that owns its slot, one connection per master in use.
 *
 * Nothing the client library does is trusted to keep a subscription: a new connection, an unrequested
 * `sunsubscribe` (the slot moved or its master was demoted), a `MOVED` answer, or a slot that the
 * cluster's map gives to another master, each puts the partitions concerned through `resubscribing`
 * (the receiver treats them as possibly missed and fills them from the outbox once a tick proves
 * them) and subscribes them again on the master that owns them now.
 *
 * Each followed partition has a probe channel of its own (same slot): a connection that is open but no
 * longer delivers is noticed because its probes stop coming back, and is replaced.
 */
export class RedisClusterFeedSubscriber implements FeedSubscriber {
  /** Every channel asked for, by partition and full name. */
  private readonly channels = new Map<number, Map<string, FeedChannel>>();
  private readonly links = new Map<string, NodeLink>();
  /** The link that carries each partition now. */
  private readonly placed = new Map<number, NodeLink>();
  private readonly probeId = randomUUID();
  private readonly lastProbeSeen = new Map<number, number>();
  private readonly placedAt = new Map<number, number>();
  private readonly probeTimer: NodeJS.Timeout;
  private relocating: Promise<void> | null = null;
  private relocateAgain = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly onRefresh = () => {
    if (this.misplaced().length > 0) this.relocate();
  };

  constructor(private readonly options: RedisClusterFeedSubscriberOptions) {
    options.cluster.on('refresh', this.onRefresh);
    this.probeTimer = setInterval(() => this.probe(), options.probeIntervalMs);
    this.probeTimer.unref();
  }

  get channelCount(): number {
    let count = 0;
    for (const names of this.channels.values()) count += names.size;
    return count;
  }

  /**
   * The channels are recorded at once, for every partition, before anything is awaited: a later
   * unsubscribe then always sees them, and commands go to a link in the order they were asked for.
   */
  async subscribe(channels: FeedChannel[]): Promise<void> {
    const grouped = [...byPartition(channels)].map(([partition, list]) => {
      let names = this.channels.get(partition);
      if (!names) this.channels.set(partition, (names = new Map()));
      for (const channel of list) names.set(this.name(channel), channel);
      return { partition, added: list.map((channel) => this.name(channel)) };
    });
    await Promise.all(grouped.map(({ partition, added }) => this.subscribeOn(partition, added)));
  }

  private async subscribeOn(partition: number, added: string[]): Promise<void> {
    // A cluster client just made has no slots map yet: it is read once before giving up.
    if (!this.placed.has(partition) && !this.ownerOf(partition)) await this.refreshSlots();
    const link = this.placed.get(partition) ?? (this.channels.has(partition) ? this.place(partition) : null);
    if (!link) {
      if (!this.channels.has(partition)) return;
      this.relocate();
      throw new Error(`no master of the Redis Cluster owns slot ${partitionSlot(partition)} (partition ${partition}) yet`);
    }
    await link.whenReady();
    // Only what is still wanted: an unsubscribe may have come while this waited.
    const wanted = added.filter((name) => this.channels.get(partition)?.has(name));
    if (wanted.length === 0 || this.placed.get(partition) !== link) return;
    try {
      await link.send('ssubscribe', [this.probeName(partition), ...wanted]);
    } catch (error) {
      // Perhaps not subscribed in Redis: the partition is subscribed anew where it belongs, and filled.
      this.lost(link, [partition], 'subscribe failed');
      throw error;
    }
  }

  /** Like `subscribe`, every channel is forgotten at once and each link's command sent before any is awaited. */
  async unsubscribe(channels: FeedChannel[]): Promise<void> {
    const sent: Promise<void>[] = [];
    for (const [partition, list] of byPartition(channels)) {
      const names = this.channels.get(partition);
      if (!names) continue;
      const removed = list.map((channel) => this.name(channel)).filter((name) => names.delete(name));
      const link = this.placed.get(partition);
      if (names.size === 0) {
        this.channels.delete(partition);
        this.unplace(partition);
        removed.push(this.probeName(partition));
      }
      if (removed.length > 0 && link?.ready) sent.push(link.send('sunsubscribe', removed));
      if (link && link.partitions.size === 0) this.dropLink(link);
    }
    await Promise.all(sent);
  }

  renew(partitions: readonly number[]): void {
    const byLink = new Map<NodeLink, number[]>();
    for (const partition of partitions) {
      const link = this.placed.get(partition);
      if (link) byLink.set(link, [...(byLink.get(link) ?? []), partition]);
    }
    // Through the slots map again: a partition that waits in vain may be subscribed where it no longer is.
    for (const [link, moved] of byLink) this.lost(link, moved, 'silent');
  }

  /** True while every followed partition's probe came back recently over its connection. */
  healthy(): boolean {
    const now = Date.now();
    const window = this.options.probeIntervalMs * 3;
    if (this.placed.size === 0) return this.options.cluster.status === 'ready';
    for (const partition of this.placed.keys()) {
      // A partition placed just now has had no time to prove itself: not a sign of a deaf connection.
      if (now - (this.placedAt.get(partition) ?? 0) < window) continue;
      if (now - (this.lastProbeSeen.get(partition) ?? 0) >= window) return false;
    }
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.probeTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.options.cluster.off('refresh', this.onRefresh);
    this.options.onClosed();
    await Promise.all([...this.links.values()].map((link) => link.close()));
  }

  private name(channel: FeedChannel): string {
    return `${this.options.prefix}${feedChannelName(channel)}`;
  }

  private probeChannel(partition: number): string {
    return `${partitionTag(partition)}:probe:${this.probeId}`;
  }

  private probeName(partition: number): string {
    return `${this.options.prefix}${this.probeChannel(partition)}`;
  }

  /** The master that owns a partition's slot in the cluster's current map. */
  private ownerOf(partition: number): string | null {
    return this.options.cluster.slots[partitionSlot(partition)]?.[0] ?? null;
  }

  /** Puts a partition on the link to its owner (made if needed); null when the map names no owner. */
  private place(partition: number): NodeLink | null {
    const owner = this.ownerOf(partition);
    if (!owner) return null;
    const link = this.linkTo(owner);
    link.partitions.add(partition);
    this.placed.set(partition, link);
    this.placedAt.set(partition, Date.now());
    return link;
  }

  private unplace(partition: number): void {
    this.placed.get(partition)?.partitions.delete(partition);
    this.placed.delete(partition);
    this.placedAt.delete(partition);
    this.lastProbeSeen.delete(partition);
  }

  private linkTo(node: string): NodeLink {
    let link = this.links.get(node);
    if (link) return link;
    link = new NodeLink(node, this.options.redisOptions, this.options.commandTimeoutMs, {
      ready: (ready) => this.resubscribe(ready, [...ready.partitions]),
      moved: (moved) => this.lost(moved, [...moved.partitions], 'sunsubscribe'),
      message: (from, channel, text) => this.onMessage(from, channel, text),
      error: (error) => this.options.handlers.onError(error),
    });
    this.links.set(node, link);
    return link;
  }

  private dropLink(link: NodeLink): void {
    if (this.links.get(link.node) !== link) return;
    this.links.delete(link.node);
    void link.close();
  }

  /** The partitions the cluster's map now gives to another master than the one carrying them. */
  private misplaced(): number[] {
    const moved: number[] = [];
    for (const [partition, link] of this.placed) if (this.ownerOf(partition) !== link.node) moved.push(partition);
    return moved;
  }

  /** Subscribes the partitions on the link again, treating them as possibly missed until confirmed. */
  private resubscribe(link: NodeLink, partitions: number[]): void {
    if (this.closed || partitions.length === 0) return;
    this.options.handlers.resubscribing(partitions);
    void Promise.all(
      partitions.map((partition) => link.send('ssubscribe', [this.probeName(partition), ...(this.channels.get(partition)?.keys() ?? [])])),
    ).then(
      () => this.options.handlers.resubscribed(partitions),
      (error: unknown) => {
        this.options.handlers.onError(error);
        // Not subscribed, this link would only wait for the probes to find it deaf; perhaps the slots moved.
        this.lost(link, partitions, 'subscribe failed');
      },
    );
  }

  /**
   * Redis may have dropped these partitions' subscriptions on the link: they are possibly missed from
   * now on, and subscribed again wherever the refreshed map puts them.
   */
  private lost(link: NodeLink, partitions: number[], reason: MovedReason): void {
    const still = partitions.filter((partition) => this.placed.get(partition) === link);
    if (this.closed || still.length === 0) return;
    this.options.onMoved?.(still.length, reason);
    this.options.handlers.resubscribing(still);
    for (const partition of still) this.unplace(partition);
    this.relocate();
  }

  /** Refreshes the slots map, then puts every followed partition where it belongs. One run at a time. */
  private relocate(): void {
    if (this.closed) return;
    if (this.relocating) {
      this.relocateAgain = true;
      return;
    }
    this.relocating = this.relocateOnce().finally(() => {
      this.relocating = null;
      if (this.relocateAgain) {
        this.relocateAgain = false;
        this.relocate();
      }
    });
  }

  /** Reads the slots map again, within a few command deadlines; a failure leaves the map as it was. */
  private refreshSlots(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.commandTimeoutMs * 3);
      this.options.cluster.refreshSlotsCache(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async relocateOnce(): Promise<void> {
    await this.refreshSlots();
    if (this.closed) return;
    for (const partition of this.misplaced()) {
      const from = this.placed.get(partition)!;
      this.options.onMoved?.(1, 'new owner');
      this.options.handlers.resubscribing([partition]);
      this.unplace(partition);
      // The old master no longer carries the slot: its subscription is gone or about to be.
      if (from.ready) from.send('sunsubscribe', [this.probeName(partition), ...(this.channels.get(partition)?.keys() ?? [])]).catch(() => undefined);
    }
    let unowned = false;
    const byLink = new Map<NodeLink, number[]>();
    for (const partition of this.channels.keys()) {
      if (this.placed.has(partition)) continue;
      const link = this.place(partition);
      if (!link) {
        unowned = true;
        continue;
      }
      byLink.set(link, [...(byLink.get(link) ?? []), partition]);
    }
    // A link being connected subscribes all its partitions when it is ready.
    for (const [link, partitions] of byLink) if (link.ready) this.resubscribe(link, partitions);
    for (const link of [...this.links.values()]) if (link.partitions.size === 0) this.dropLink(link);
    if (unowned && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.relocate();
      }, RELOCATE_RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private probe(): void {
    const now = Date.now();
    const window = this.options.probeIntervalMs * 3;
    for (const [partition, link] of this.placed) {
      if (!link.ready) continue;
      const seen = this.lastProbeSeen.get(partition) ?? 0;
      if (now - seen > window && now - (this.placedAt.get(partition) ?? now) > window) {
        this.options.handlers.onError(new Error(`Redis Cluster subscriber for ${link.node} is stale (no probe of partition ${partition} came back); reconnecting`));
        this.placedAt.set(partition, now);
        link.reconnect();
        continue;
      }
      this.options.probe(this.probeChannel(partition), String(now)).catch(() => undefined);
    }
  }

  private onMessage(link: NodeLink, fullName: string, text: string): void {
    try {
      const probe = this.probeOf(fullName);
      if (probe !== null) {
        if (this.placed.get(probe) === link) this.lastProbeSeen.set(probe, Date.now());
        return;
      }
      // What a link hears for a partition it no longer carries comes from before the move: the partition
      // is being subscribed anew, and a tick from here would prove nothing about its new connection.
      handFeedMessage(this.options.prefix, fullName, text, this.options.handlers, (partition) => this.placed.get(partition) === link);
    } catch (error) {
      this.options.handlers.onError(error);
    }
  }

  private probeOf(fullName: string): number | null {
    if (!fullName.endsWith(this.probeId)) return null;
    for (const partition of this.placed.keys()) if (fullName === this.probeName(partition)) return partition;
    return -1;
  }
}

function byPartition(channels: FeedChannel[]): Map<number, FeedChannel[]> {
  const grouped = new Map<number, FeedChannel[]>();
  for (const channel of channels) grouped.set(channel.partition, [...(grouped.get(channel.partition) ?? []), channel]);
  return grouped;
}
