import { randomUUID } from 'node:crypto';
import { GraphQLError, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { isChatChannel, OrderedWork, type ChannelMessage, type RelayedRecord } from '../../application';
import type { GraphQLContext } from '../graphql/graphql-context';
import { toGraphQLError } from '../graphql/graphql-errors';
import { PayloadExecutor } from './payload-executor';
import type { ClientError, PayloadGroup, Subscription } from './subscription';

/**
 * What the receiver follows for its subscriptions (DESIGN.md §4 "Interest, not broadcast"): the chat of
 * a chat-scoped one, every chat of the user of a user-scoped one. Follows resolve once every row from
 * then on will be heard; a chat that does not exist answers null.
 */
export interface SubscriptionInterest {
  followChat(chatId: string): Promise<number | null>;
  releaseChat(chatId: string): void;
  followUser(userId: string): Promise<void>;
  releaseUser(userId: string): void;
}

export interface RouterDependencies {
  schema: GraphQLSchema;
  /** Absent in tests that hand records in directly. */
  interest?: SubscriptionInterest;
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
  /** channel → chat or user → subscriptions: a channel nobody here listens to costs one lookup per message. */
  private readonly routes = new Map<string, Map<string, Set<Subscription>>>();
  private readonly byViewer = new Map<string, Set<Subscription>>();
  private readonly work: OrderedWork;
  private readonly groups = new Map<string, PayloadGroup>();
  private subscriptionCount = 0;
  private readonly executor: PayloadExecutor;

  constructor(private readonly deps: RouterDependencies) {
    this.work = new OrderedWork((error) => deps.onError(error));
    this.executor = new PayloadExecutor(deps.schema);
  }

  get size(): number {
    return this.subscriptionCount;
  }

  /**
   * Resolves once the record is delivered, so a caller with a backlog can wait instead of piling it up.
   * The feed hands each row on once, in order per chat and per partition (partitions interleave).
   */
  receive(record: Pick<RelayedRecord, 'messages'>): Promise<void> {
    return this.work.run(() => this.deliver(record.messages)).then(() => undefined);
  }

  /**
   * Makes the receiver follow what the subscription needs; answers the chat's partition for a
   * chat-scoped one (null: no such chat). A subscription removed meanwhile gives it up again at once.
   */
  async acquireInterest(subscription: Subscription): Promise<number | null> {
    const interest = this.deps.interest;
    if (!interest) return 0;
    const chatScoped = subscription.field.scope === 'chat';
    const partition = chatScoped ? await interest.followChat(subscription.target) : (await interest.followUser(subscription.target), 0);
    if (partition === null) return null;
    subscription.holdsInterest = true;
    if (!subscription.active) this.releaseInterest(subscription);
    return partition;
  }

  private releaseInterest(subscription: Subscription): void {
    if (!subscription.holdsInterest) return;
    subscription.holdsInterest = false;
    if (subscription.field.scope === 'chat') this.deps.interest?.releaseChat(subscription.target);
    else this.deps.interest?.releaseUser(subscription.target);
  }

  /** Messages made in this receiver rather than relayed (unread counts): routed the same way, after everything received so far. */
  deliverLocal(messages: ChannelMessage[]): Promise<void> {
    return this.enqueue(() => this.deliver(messages)).then(() => undefined);
  }

  /** Whether anyone here subscribes to this channel at all. */
  listensTo(channel: string): boolean {
    return this.routes.has(channel);
  }

  /** Whether anyone here subscribes to this channel for this chat or user. */
  hasSubscribers(channel: string, target: string): boolean {
    return this.routes.get(channel)?.has(target) ?? false;
  }

  /** Runs `work` after every record received so far has been delivered; undefined if it failed. */
  enqueue<T>(work: () => Promise<T> | T): Promise<T | undefined> {
    return this.work.run(work);
  }

  /** The one group object for this key, shared by every subscription that joins with it. */
  groupFor(key: string, make: () => Omit<PayloadGroup, 'key' | 'members'>): PayloadGroup {
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = { ...make(), key, members: 0 }));
    return group;
  }

  add(subscription: Subscription): void {
    subscription.group.members++;
    let byTarget = this.routes.get(subscription.field.channel);
    if (!byTarget) this.routes.set(subscription.field.channel, (byTarget = new Map()));
    addTo(byTarget, subscription.target, subscription);
    addTo(this.byViewer, subscription.viewerId, subscription);
    this.subscriptionCount++;
  }

  remove(subscription: Subscription): void {
    subscription.active = false;
    this.releaseInterest(subscription);
    const byTarget = this.routes.get(subscription.field.channel);
    if (!byTarget || !removeFrom(byTarget, subscription.target, subscription)) return;
    if (byTarget.size === 0) this.routes.delete(subscription.field.channel);
    this.subscriptionCount--;
    removeFrom(this.byViewer, subscription.viewerId, subscription);
    const { group } = subscription;
    if (--group.members === 0 && this.groups.get(group.key) === group) this.groups.delete(group.key);
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
  private async send(subscription: Subscription, message: ChannelMessage, payloads: Map<string, Payload | Promise<Payload>>): Promise<boolean> {
    if (!subscription.active || !subscription.isNew(message)) return false;
    const pending = this.payloadFor(subscription.group, message, subscription.viewerId, payloads);
    const payload = isPromise(pending) ? await pending : pending;
    return this.write(subscription, message, payload);
  }

  /** `frames`: a group's frames by subscription id, encoded once and shared (most clients use the same ids). */
  private write(subscription: Subscription, message: ChannelMessage, payload: Payload, frames?: Map<string, Buffer>): boolean {
    if (!subscription.active) return false;
    if ('errors' in payload) {
      // Not counted as sent (DESIGN.md §4): the client resumes from its last cursor and gets it then.
      this.end(subscription, payload.errors);
      return false;
    }
    subscription.markSent(message);
    if (subscription.group.positionCursor) {
      // Each subscriber's own position: the frame is its alone.
      subscription.sink.send(subscription.frame(payload.json.replaceAll(POSITION_PLACEHOLDER_JSON, JSON.stringify(subscription.position()))));
      return true;
    }
    subscription.sink.send(frames ? sharedFrame(frames, subscription, payload.json) : subscription.frame(payload.json));
    return true;
  }

  /**
   * One message to its subscribers here: grouped by payload, each group executed once, and the frames
   * of a group written one after the other without waiting (only a viewer-dependent payload, which
   * looks something up, is awaited, once per group).
   */
  private async deliver(messages: ChannelMessage[]): Promise<void> {
    for (const message of messages) {
      // Most messages have nobody here: for them nothing is allocated.
      const groups = this.subscribersByGroup(message);
      let frames = 0;
      if (groups) {
        const payloads = new Map<string, Payload | Promise<Payload>>();
        for (const subscribers of groups.values()) {
          const first = subscribers[0]!;
          const pending = this.payloadFor(first.group, message, first.viewerId, payloads);
          const payload = isPromise(pending) ? await pending : pending;
          const shared = subscribers.length > 1 ? new Map<string, Buffer>() : undefined;
          for (const subscription of subscribers) if (this.write(subscription, message, payload, shared)) frames++;
        }
      }
      this.deps.onDelivered?.(message, frames);
      if (message.meta.removedUserIds) this.endRemoved(message.meta.chatId, message.meta.removedUserIds, message.meta.cursor);
    }
  }

  /** Who gets the message now, by payload group (null: nobody); held subscriptions keep it for later instead. */
  private subscribersByGroup(message: ChannelMessage): Map<string, Subscription[]> | null {
    const byTarget = this.routes.get(message.channel);
    if (!byTarget) return null;
    if (isChatChannel(message.channel)) return this.routeAll(byTarget.get(message.meta.chatId), message, null);
    let groups: Map<string, Subscription[]> | null = null;
    for (const userId of message.meta.userIds ?? NOBODY) groups = this.routeAll(byTarget.get(userId), message, groups);
    return groups;
  }

  private routeAll(subscribers: Set<Subscription> | undefined, message: ChannelMessage, groups: Map<string, Subscription[]> | null) {
    if (subscribers) for (const subscription of subscribers) groups = this.route(subscription, message, groups);
    return groups;
  }

  private route(subscription: Subscription, message: ChannelMessage, groups: Map<string, Subscription[]> | null): Map<string, Subscription[]> | null {
    if (subscription.pending) {
      subscription.pending.push(message);
      subscription.sink.checkPending?.(subscription);
      return groups;
    }
    if (!subscription.isNew(message)) return groups;
    groups ??= new Map();
    const group = groups.get(subscription.group.key);
    if (group) group.push(subscription);
    else groups.set(subscription.group.key, [subscription]);
    return groups;
  }

  private endRemoved(chatId: string, userIds: string[], cursor: string): void {
    for (const userId of userIds) {
      for (const subscription of this.subscriptionsOf(userId)) {
        if (subscription.field.scope !== 'chat' || subscription.args.chatId !== chatId) continue;
        // A receiver catching up delivers a removal the viewer's later re-addition already undid.
        if (subscription.removedAt(cursor)) this.end(subscription, [NO_LONGER_A_PARTICIPANT]);
      }
    }
  }

  /**
   * Executes the group's selection on the message once; a viewer-dependent group is keyed per viewer
   * already. Synchronous unless a resolver looks something up.
   */
  private payloadFor(
    group: PayloadGroup,
    message: ChannelMessage,
    viewerId: string,
    cache: Map<string, Payload | Promise<Payload>>,
  ): Payload | Promise<Payload> {
    const cached = cache.get(group.key);
    if (cached !== undefined) return cached;
    let payload: Payload | Promise<Payload>;
    try {
      const source = group.positionCursor ? { ...message.payload, cursor: POSITION_PLACEHOLDER } : message.payload;
      const executed = this.executor.execute(group, { [group.fieldName]: source }, this.deps.contextFor(viewerId));
      payload = isPromise(executed)
        ? executed.then((result) => this.toPayload(result), (error: unknown) => ({ errors: this.clientErrors([error]) }))
        : this.toPayload(executed);
    } catch (error) {
      payload = { errors: this.clientErrors([error]) };
    }
    cache.set(group.key, payload);
    return payload;
  }

  private toPayload(result: ExecutionResult): Payload {
    return result.errors?.length ? { errors: this.clientErrors(result.errors) } : { json: JSON.stringify(result) };
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

const NOBODY: readonly string[] = [];

/**
 * Stands for the subscriber's position in a payload executed once for many subscribers: replaced in
 * each frame. Random per process, so no content can forge it.
 */
const POSITION_PLACEHOLDER = `parley-position-${randomUUID()}`;
const POSITION_PLACEHOLDER_JSON = JSON.stringify(POSITION_PLACEHOLDER);

function sharedFrame(frames: Map<string, Buffer>, subscription: Subscription, payloadJson: string): Buffer {
  let frame = frames.get(subscription.id);
  if (!frame) frames.set(subscription.id, (frame = Buffer.from(subscription.frame(payloadJson))));
  return frame;
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
