import type { LiveSubscription, LiveSubscriptionHandlers, LiveSubscriptionRequest } from './live-subscription';

/** A user's presence as the server has it (DESIGN.md §10); `lastSeenAt` is when their last socket closed. */
export interface UserPresence {
  online: boolean;
  lastSeenAt: string | null;
}

/** `presence` is undefined when the server no longer tells this user's presence (no chat shared with them). */
export type PresenceListener = (userId: string, presence: UserPresence | undefined) => void;

/** What a presence map needs of the client: `ParleyClient` is one. */
export interface PresenceSource {
  request<T>(query: string, variables: Record<string, unknown>): Promise<T>;
  subscribeLive<T>(request: LiveSubscriptionRequest, handlers: LiveSubscriptionHandlers<T>): LiveSubscription;
}

interface PresenceFrame extends UserPresence {
  userId: string;
}

export const PRESENCE_QUERY = 'query($userIds: [ID!]!) { presence(userIds: $userIds) { userId online lastSeenAt } }';
export const PRESENCE_CHANGED = 'subscription { presenceChanged { userId online lastSeenAt } }';

/**
 * The presence of some users, kept current: loaded with the `presence` query whenever `presenceChanged`
 * is (re)started on a connection, then moved by its transitions. The server replays no transition
 * missed while disconnected, so the query after each reconnect is what catches up.
 *
 * A transition that arrives while a load is in flight wins over that load's answer for its user: it
 * was sent after the subscription was running, and the answer may have been read before it.
 */
export class PresenceMap {
  private readonly users = new Map<string, UserPresence>();
  private followed: Set<string>;
  private readonly listeners = new Set<PresenceListener>();
  /** Per load in flight, the users a live transition has touched since it was sent. */
  private readonly loads = new Set<Set<string>>();
  private running = false;
  private closed = false;
  private readonly subscription: LiveSubscription;

  constructor(private readonly source: PresenceSource, userIds: Iterable<string>, private readonly report: (error: unknown) => void = () => undefined) {
    this.followed = new Set(userIds);
    this.subscription = source.subscribeLive<PresenceFrame>(
      { query: PRESENCE_CHANGED },
      {
        next: (frame) => this.transition(frame),
        started: () => {
          this.running = true;
          void this.load([...this.followed]);
        },
        stopped: () => {
          this.running = false;
        },
        error: (error) => this.report(error),
      },
    );
  }

  /** The current state of every followed user the server told about. */
  get state(): ReadonlyMap<string, UserPresence> {
    return this.users;
  }

  get(userId: string): UserPresence | undefined {
    return this.users.get(userId);
  }

  /** Calls `listener` for every change of a followed user's presence; answers a function that stops it. */
  onChange(listener: PresenceListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Follows these users from now on (e.g. a chat's participants changed): the new ones are loaded, the others forgotten. */
  setUserIds(userIds: Iterable<string>): void {
    const next = new Set(userIds);
    const added = [...next].filter((userId) => !this.followed.has(userId));
    this.followed = next;
    for (const userId of [...this.users.keys()]) {
      if (!next.has(userId)) this.set(userId, undefined);
    }
    // Not running: the next start loads every followed user anyway.
    if (this.running && added.length > 0) void this.load(added);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscription.unsubscribe();
    this.listeners.clear();
    this.loads.clear();
  }

  private async load(userIds: string[]): Promise<void> {
    if (this.closed || userIds.length === 0) return;
    const touched = new Set<string>();
    this.loads.add(touched);
    try {
      const { presence } = await this.source.request<{ presence: PresenceFrame[] }>(PRESENCE_QUERY, { userIds });
      if (this.closed) return;
      const answered = new Map(presence.map((each) => [each.userId, each]));
      for (const userId of userIds) {
        if (touched.has(userId) || !this.followed.has(userId)) continue;
        const each = answered.get(userId);
        this.set(userId, each && { online: each.online, lastSeenAt: each.lastSeenAt ?? null });
      }
    } catch (error) {
      // The next start (after a reconnect) loads again; until then transitions still arrive.
      this.report(error);
    } finally {
      this.loads.delete(touched);
    }
  }

  private transition(frame: PresenceFrame): void {
    if (!this.followed.has(frame.userId)) return;
    for (const touched of this.loads) touched.add(frame.userId);
    this.set(frame.userId, { online: frame.online, lastSeenAt: frame.lastSeenAt ?? null });
  }

  private set(userId: string, presence: UserPresence | undefined): void {
    const before = this.users.get(userId);
    if (presence === undefined ? before === undefined : before?.online === presence.online && before.lastSeenAt === presence.lastSeenAt) return;
    if (presence === undefined) this.users.delete(userId);
    else this.users.set(userId, presence);
    for (const listener of [...this.listeners]) {
      try {
        listener(userId, presence);
      } catch (error) {
        this.report(error);
      }
    }
  }
}
