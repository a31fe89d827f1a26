import { execute, type GraphQLSchema } from 'graphql';
import { compareCursors, isChatChannel, type ChannelMessage, type RelayedRecord } from '../../application';
import type { GraphQLContext } from '../graphql/graphql-context';
import { routeKey, type PayloadGroup, type Subscription } from './subscription';

export interface RouterDependencies {
  schema: GraphQLSchema;
  /** The context a viewer-dependent payload is executed in. */
  contextFor(viewerId: string): GraphQLContext;
  onDelivered?(message: ChannelMessage, frames: number): void;
  /** A subscriber lost access to its chat (removed from it): end the subscription with an error. */
  revoke(subscription: Subscription): void;
  onError(error: unknown): void;
}

/**
 * Routes relayed messages to local subscribers through indexes by chat and by user, so an event costs
 * in proportion to the subscribers who should get it, never to all subscribers here. Records are
 * handled one at a time, in order, and a record seen before (a relay retry) is dropped by position.
 */
export class SubscriptionRouter {
  private readonly routes = new Map<string, Set<Subscription>>();
  private readonly byViewer = new Map<string, Set<Subscription>>();
  private lastPosition: string | null = null;
  private tail: Promise<void> = Promise.resolve();
  private subscriptionCount = 0;

  constructor(private readonly deps: RouterDependencies) {}

  get size(): number {
    return this.subscriptionCount;
  }

  /** Resolves once the record is delivered, so a caller with a backlog can wait instead of piling it up. */
  receive(record: RelayedRecord): Promise<void> {
    if (this.lastPosition !== null && compareCursors(record.position, this.lastPosition) <= 0) return Promise.resolve();
    this.lastPosition = record.position;
    return this.enqueue(() => this.deliver(record.messages));
  }

  /** Runs `work` after every record received so far has been delivered. */
  enqueue(work: () => Promise<void> | void): Promise<void> {
    const next = this.tail.then(work).catch((error: unknown) => this.deps.onError(error));
    this.tail = next;
    return next;
  }

  add(subscription: Subscription): void {
    addTo(this.routes, subscription.routeKey, subscription);
    addTo(this.byViewer, subscription.viewerId, subscription);
    this.subscriptionCount++;
  }

  remove(subscription: Subscription): void {
    subscription.active = false;
    if (removeFrom(this.routes, subscription.routeKey, subscription)) this.subscriptionCount--;
    removeFrom(this.byViewer, subscription.viewerId, subscription);
  }

  /** Sends one message to one subscriber now (history while resuming); false when it was not new. */
  sendTo(subscription: Subscription, message: ChannelMessage): Promise<boolean> {
    return this.send(subscription, message, new Map());
  }

  /** At most once, in order, and never after the subscription ended (also while its payload executes). */
  private async send(subscription: Subscription, message: ChannelMessage, payloads: Map<string, string>): Promise<boolean> {
    if (!subscription.active || !subscription.isNew(message)) return false;
    const payload = await this.payloadFor(subscription.group, message, subscription.viewerId, payloads);
    if (!subscription.active) return false;
    subscription.markSent(message);
    subscription.sink.send(subscription.frame(payload));
    return true;
  }

  /** Ends the resume of a subscriber: what arrived live meanwhile goes out, minus what history already sent. */
  goLive(subscription: Subscription): Promise<void> {
    return this.enqueue(async () => {
      const waiting = subscription.pending ?? [];
      subscription.pending = null;
      for (const message of waiting) await this.sendTo(subscription, message);
    });
  }

  /** Subscriptions of one viewer, e.g. to end those of a chat they were removed from. */
  subscriptionsOf(viewerId: string): Subscription[] {
    return [...(this.byViewer.get(viewerId) ?? [])];
  }

  private async deliver(messages: ChannelMessage[]): Promise<void> {
    for (const message of messages) {
      const targets = isChatChannel(message.channel) ? [message.meta.chatId] : (message.meta.userIds ?? []);
      const payloads = new Map<string, string>();
      let frames = 0;
      for (const target of targets) {
        const subscribers = this.routes.get(routeKey(message.channel, target));
        if (!subscribers) continue;
        for (const subscription of subscribers) {
          if (subscription.pending) {
            subscription.pending.push(message);
            subscription.sink.checkPending?.(subscription);
            continue;
          }
          if (await this.send(subscription, message, payloads)) frames++;
        }
      }
      this.deps.onDelivered?.(message, frames);
      if (message.meta.removedUserIds) this.revokeRemoved(message.meta.chatId, message.meta.removedUserIds);
    }
  }

  private revokeRemoved(chatId: string, userIds: string[]): void {
    for (const userId of userIds) {
      for (const subscription of this.subscriptionsOf(userId)) {
        if (subscription.field.scope === 'chat' && subscription.args.chatId === chatId) this.deps.revoke(subscription);
      }
    }
  }

  /** Executes the group's selection on the message once; a viewer-dependent group is keyed per viewer already. */
  private async payloadFor(
    group: PayloadGroup,
    message: ChannelMessage,
    viewerId: string,
    cache: Map<string, string>,
  ): Promise<string> {
    const cached = cache.get(group.key);
    if (cached !== undefined) return cached;
    const result = execute({
      schema: this.deps.schema,
      document: group.document,
      operationName: group.operationName,
      variableValues: group.variables,
      rootValue: { [group.fieldName]: message.payload },
      contextValue: this.deps.contextFor(viewerId),
    });
    const json = JSON.stringify(isPromise(result) ? await result : result);
    cache.set(group.key, json);
    return json;
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T>)?.then === 'function';
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): boolean {
  const set = map.get(key);
  if (!set || !set.delete(value)) return false;
  if (set.size === 0) map.delete(key);
  return true;
}

