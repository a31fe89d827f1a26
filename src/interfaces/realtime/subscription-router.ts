import { execute, GraphQLError, type GraphQLSchema } from 'graphql';
import { compareCursors, isChatChannel, type ChannelMessage, type RelayedRecord } from '../../application';
import type { GraphQLContext } from '../graphql/graphql-context';
import { toGraphQLError } from '../graphql/graphql-errors';
import { routeKey, type ClientError, type PayloadGroup, type Subscription } from './subscription';

export interface RouterDependencies {
  schema: GraphQLSchema;
  /** The context a viewer-dependent payload is executed in. */
  contextFor(viewerId: string): GraphQLContext;
  onDelivered?(message: ChannelMessage, frames: number): void;
  onError(error: unknown): void;
}

/** A payload executed once for a group: its JSON, or why it could not be produced. */
type Payload = { json: string } | { errors: ClientError[] };

export const NO_LONGER_A_PARTICIPANT: ClientError = {
  message: 'you are no longer a participant of this chat',
  extensions: { code: 'FORBIDDEN' },
};

/**
 * Routes relayed messages to local subscribers through indexes by chat and by user, so an event costs
 * in proportion to the subscribers who should get it, never to all subscribers here. Records are
 * handled one at a time, in order, and a record seen before (a relay retry) is dropped by position.
 */
export class SubscriptionRouter {
  private readonly routes = new Map<string, Set<Subscription>>();
  private readonly byViewer = new Map<string, Set<Subscription>>();
  private lastPosition: string | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private subscriptionCount = 0;

  constructor(private readonly deps: RouterDependencies) {}

  get size(): number {
    return this.subscriptionCount;
  }

  /** Resolves once the record is delivered, so a caller with a backlog can wait instead of piling it up. */
  receive(record: RelayedRecord): Promise<void> {
    if (this.lastPosition !== null && compareCursors(record.position, this.lastPosition) <= 0) return Promise.resolve();
    this.lastPosition = record.position;
    return this.enqueue(() => this.deliver(record.messages)).then(() => undefined);
  }

  /** Messages made in this receiver rather than relayed (unread counts): routed the same way, after everything received so far. */
  deliverLocal(messages: ChannelMessage[]): Promise<void> {
    return this.enqueue(() => this.deliver(messages)).then(() => undefined);
  }

  /** Whether anyone here subscribes to this channel for this chat or user. */
  hasSubscribers(channel: string, target: string): boolean {
    return this.routes.has(routeKey(channel, target));
  }

  /** Runs `work` after every record received so far has been delivered; undefined if it failed. */
  enqueue<T>(work: () => Promise<T> | T): Promise<T | undefined> {
    const next = this.tail.then(work).catch((error: unknown) => {
      this.deps.onError(error);
      return undefined;
    });
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

  /** Ends a subscription from the server's side: nothing more is sent for it but one error message. */
  end(subscription: Subscription, errors: ClientError[]): void {
    if (!subscription.active) return;
    this.remove(subscription);
    subscription.sink.release(subscription);
    subscription.sink.sendError(subscription.id, errors);
  }

  /**
   * Sends one message to one subscriber, once its client has room: for history and held frames, which
   * may wait, unlike live delivery. False when nothing was sent.
   */
  async sendTo(subscription: Subscription, message: ChannelMessage): Promise<boolean> {
    if (!subscription.active || !subscription.isNew(message)) return false;
    const waiting = subscription.sink.writable();
    if (waiting) await waiting;
    return this.send(subscription, message, new Map());
  }

  /**
   * Ends the hold of a subscriber (its resume, or its access re-check): what arrived meanwhile goes
   * out, minus what history already sent, then it is live.
   */
  async goLive(subscription: Subscription): Promise<void> {
    for (;;) {
      // Outside the router's queue and no faster than the client reads, so neither other subscribers
      // nor a healthy client with a long backlog suffer; the router appends at the back meanwhile.
      for (let held = takeHeld(subscription); held.length > 0; held = takeHeld(subscription)) {
        for (const message of held) {
          if (!subscription.active) return;
          await this.sendTo(subscription, message);
        }
      }
      if (!subscription.active) return;
      // The switch is on the queue: nothing can be appended between this last look and going live.
      const live = await this.enqueue(() => {
        if (subscription.pending?.length) return false;
        subscription.pending = null;
        return true;
      });
      if (live !== false) return;
    }
  }

  /** Subscriptions of one viewer, e.g. to end those of a chat they were removed from. */
  subscriptionsOf(viewerId: string): Subscription[] {
    return [...(this.byViewer.get(viewerId) ?? [])];
  }

  /** At most once, in order, and never after the subscription ended (also while its payload executes). */
  private async send(subscription: Subscription, message: ChannelMessage, payloads: Map<string, Payload>): Promise<boolean> {
    if (!subscription.active || !subscription.isNew(message)) return false;
    const payload = await this.payloadFor(subscription.group, message, subscription.viewerId, payloads);
    if (!subscription.active) return false;
    if ('errors' in payload) {
      // Not counted as sent (DESIGN.md §4): the client resumes from its last cursor and gets it then.
      this.end(subscription, payload.errors);
      return false;
    }
    subscription.markSent(message);
    subscription.sink.send(subscription.frame(payload.json));
    return true;
  }

  private async deliver(messages: ChannelMessage[]): Promise<void> {
    for (const message of messages) {
      const targets = isChatChannel(message.channel) ? [message.meta.chatId] : (message.meta.userIds ?? []);
      const payloads = new Map<string, Payload>();
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
      if (message.meta.removedUserIds) this.endRemoved(message.meta.chatId, message.meta.removedUserIds);
    }
  }

  private endRemoved(chatId: string, userIds: string[]): void {
    for (const userId of userIds) {
      for (const subscription of this.subscriptionsOf(userId)) {
        if (subscription.field.scope === 'chat' && subscription.args.chatId === chatId) this.end(subscription, [NO_LONGER_A_PARTICIPANT]);
      }
    }
  }

  /** Executes the group's selection on the message once; a viewer-dependent group is keyed per viewer already. */
  private async payloadFor(
    group: PayloadGroup,
    message: ChannelMessage,
    viewerId: string,
    cache: Map<string, Payload>,
  ): Promise<Payload> {
    const cached = cache.get(group.key);
    if (cached !== undefined) return cached;
    let payload: Payload;
    try {
      const executed = execute({
        schema: this.deps.schema,
        document: group.document,
        operationName: group.operationName,
        variableValues: group.variables,
        rootValue: { [group.fieldName]: message.payload },
        contextValue: this.deps.contextFor(viewerId),
      });
      const result = isPromise(executed) ? await executed : executed;
      payload = result.errors?.length ? { errors: this.clientErrors(result.errors) } : { json: JSON.stringify(result) };
    } catch (error) {
      payload = { errors: this.clientErrors([error]) };
    }
    cache.set(group.key, payload);
    return payload;
  }

  /** Known failures keep their code; anything else is logged here and reaches the client without detail. */
  private clientErrors(errors: readonly unknown[]): ClientError[] {
    return errors.map((error) => {
      const known = toGraphQLError(error);
      if (known) return known.toJSON() as ClientError;
      this.deps.onError(error instanceof GraphQLError ? (error.originalError ?? error) : error);
      return { message: 'this event could not be delivered; resume with your last cursor', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    });
  }
}

function takeHeld(subscription: Subscription): ChannelMessage[] {
  return subscription.active ? (subscription.pending?.splice(0) ?? []) : [];
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
