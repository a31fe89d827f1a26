import type { ChatAddress, EphemeralPublisher, PresenceSignal, PresenceStore } from '../../application';

/** Announcements of a sweep under way at once: each reads the user's chats, then publishes. */
const SWEEP_ANNOUNCERS = 16;

export interface PresenceTrackerOptions {
  store: PresenceStore;
  publisher: EphemeralPublisher;
  /** The chats a user is in: their transitions are announced on each one's channel. */
  chatsOf(userId: string): Promise<ChatAddress[]>;
  /** How often the registration is renewed and lapsed receivers looked for. */
  intervalMs: number;
  now?: () => number;
  onError(error: unknown): void;
  onAnnounced?(signal: PresenceSignal): void;
}

/**
 * One receiver's part in presence (DESIGN.md §10). It counts its users' sockets; a user's first socket
 * here claims them in the store, their last one releases them, and the store says whether that made
 * them go online or offline cluster-wide, which is then announced on every chat of theirs (the
 * receivers of users who share one follow it). Every interval it renews its registration (one call,
 * whatever the number of users) and sweeps receivers whose registration lapsed: a receiver killed
 * without a word stops claiming its users within two intervals, and the next sweep announces them.
 *
 * Each user's claims and releases run one after the other, in the order their sockets came and went.
 * A failure, or finding its own registration lapsed, makes it reconcile the store with its sockets.
 * A user whose transition may have been decided without being announced (its announcement failed,
 * or the claim or release did, perhaps after the store decided it) is kept, and at each renewal the
 * state the store holds now is announced with its version, until that goes out: the version is spent
 * in the store, so nothing else would announce it, and a watcher would show the user in the wrong
 * state until it reloads. Announcing the state as it is now, never an old signal, means a retry can
 * never undo a newer transition; subscribers drop what they have seen.
 */
export class PresenceTracker {
  private readonly sockets = new Map<string, number>();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly registered: Promise<void>;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private beating: Promise<void> | null = null;
  private sweeping: Promise<void> | null = null;
  private announcing: Promise<void> | null = null;
  private reconcile = false;
  /** Users whose current state is to be announced again (a decision maybe unannounced). */
  private readonly unannounced = new Set<string>();

  constructor(private readonly options: PresenceTrackerOptions) {
    this.now = options.now ?? Date.now;
    // Claims wait for the first registration: until then the store does not count this receiver live.
    this.registered = this.beat();
    this.timer = setInterval(() => void this.beat(), options.intervalMs);
    this.timer.unref();
  }

  /** Users with a socket here. */
  get users(): number {
    return this.sockets.size;
  }

  /** Users whose state is to be announced again at the next renewal. */
  get pending(): number {
    return this.unannounced.size;
  }

  /** Resolves once every claim and release asked for so far is done. */
  async settled(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  connected(userId: string): void {
    const count = (this.sockets.get(userId) ?? 0) + 1;
    this.sockets.set(userId, count);
    if (count === 1) this.enqueue(userId, () => this.claim(userId));
  }

  disconnected(userId: string): void {
    const count = (this.sockets.get(userId) ?? 0) - 1;
    if (count > 0) {
      this.sockets.set(userId, count);
      return;
    }
    this.sockets.delete(userId);
    this.enqueue(userId, () => this.release(userId));
  }

  /** After the sockets closed (their releases are queued): lets every release finish, then leaves the registry. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    await this.background();
    await this.settled();
    // One last try for what could not be announced: after this receiver, nobody would.
    await this.announceKept();
    if (this.unannounced.size > 0) this.options.onError(new Error(`presence: ${this.unannounced.size} users' last transitions could not be announced before stopping`));
    if (this.reconcile) {
      // A claim or release failed: the registration is left to lapse, so that another receiver
      // sweeps what this one may still hold and announces it.
      this.options.onError(new Error("presence: a claim or release failed; leaving this receiver's registration to lapse so that another receiver sweeps it"));
      return;
    }
    await this.options.store.leave().catch((error: unknown) => this.options.onError(error));
  }

  /** Renews the registration, reconciles when needed, and sweeps lapsed receivers, now (the timer's work); never two at once. */
  beat(): Promise<void> {
    if (this.beating) return this.beating;
    this.beating = this.renew()
      .catch((error: unknown) => {
        this.reconcile = true;
        this.options.onError(error);
      })
      .finally(() => (this.beating = null));
    return this.beating;
  }

  private async renew(): Promise<void> {
    const { rejoined, lapsed } = await this.options.store.register(this.now());
    if (rejoined || this.reconcile) {
      this.reconcile = false;
      await this.reconcileClaims();
    }
    // Beside the renewals, never in their way: a large sweep, or many users to announce again once
    // PostgreSQL is back, must not let this receiver's own claim lapse.
    if (this.unannounced.size > 0 && !this.announcing) this.announcing = this.announceKept().finally(() => (this.announcing = null));
    if (lapsed.length > 0 && !this.sweeping) this.sweeping = this.sweep(lapsed).finally(() => (this.sweeping = null));
  }

  /** Resolves once the sweep and the announcements under way (if any) are done. */
  async background(): Promise<void> {
    await Promise.all([this.sweeping, this.announcing]);
  }

  private async sweep(lapsed: string[]): Promise<void> {
    for (const receiverId of lapsed) {
      try {
        const signals = await this.options.store.sweep(receiverId, this.now());
        await inParallel(signals, SWEEP_ANNOUNCERS, (signal) => this.announce(signal));
      } catch (error) {
        this.options.onError(error);
      }
    }
  }

  /**
   * The store's claims of this receiver made to match its sockets: users who left meanwhile released,
   * every user here claimed (again, if a sweep took them off this receiver while it was stalled).
   */
  private async reconcileClaims(): Promise<void> {
    for (const userId of await this.options.store.claimed()) {
      if (!this.sockets.has(userId)) this.enqueue(userId, () => this.release(userId));
    }
    for (const userId of this.sockets.keys()) this.enqueue(userId, () => this.claim(userId));
  }

  private enqueue(userId: string, step: () => Promise<void>): void {
    const next = (this.queues.get(userId) ?? Promise.resolve())
      .then(step)
      .catch((error: unknown) => {
        // The store may have decided before its answer was lost: announce the user's state again.
        this.reconcile = true;
        this.unannounced.add(userId);
        this.options.onError(error);
      })
      .finally(() => {
        if (this.queues.get(userId) === next) this.queues.delete(userId);
      });
    this.queues.set(userId, next);
  }

  private async claim(userId: string): Promise<void> {
    await this.registered;
    // Gone again while this waited: the release queued behind it has nothing to undo.
    if (!this.sockets.has(userId)) return;
    const signal = await this.options.store.attach(userId);
    if (signal) await this.announce(signal);
  }

  private async release(userId: string): Promise<void> {
    await this.registered;
    if (this.sockets.has(userId)) return;
    const signal = await this.options.store.detach(userId, this.now());
    if (signal) await this.announce(signal);
  }

  /**
   * The users kept, SWEEP_ANNOUNCERS at a time: each one's state as the store holds it now, with its
   * version. A failure keeps the user for the next renewal; the failures of a round are reported once.
   */
  private async announceKept(): Promise<void> {
    const users = [...this.unannounced];
    this.unannounced.clear();
    const failed: unknown[] = [];
    await inParallel(users, SWEEP_ANNOUNCERS, async (userId) => {
      try {
        const state = await this.options.store.current(userId);
        if (state) await this.publish(state);
      } catch (error) {
        this.unannounced.add(userId);
        failed.push(error);
      }
    });
    if (failed.length > 0) this.options.onError(new Error(`presence: ${failed.length} of ${users.length} users' states could not be announced again (${(failed[0] as Error)?.message ?? failed[0]}); tried again at the next renewal`));
  }

  /** Never throws: a transition that cannot go out now is kept for the next renewal (and the error reported). */
  private async announce(signal: PresenceSignal): Promise<void> {
    try {
      await this.publish(signal);
    } catch (error) {
      this.unannounced.add(signal.userId);
      this.options.onError(error);
    }
  }

  private async publish(signal: PresenceSignal): Promise<void> {
    const chats = await this.options.chatsOf(signal.userId);
    await this.options.publisher.publishPresence(chats, signal);
    this.options.onAnnounced?.(signal);
  }
}

/** Runs `work` on every item, at most `limit` at a time. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
