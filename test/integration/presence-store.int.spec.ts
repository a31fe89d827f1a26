import { randomBytes } from 'node:crypto';
import type { ChatAddress, EphemeralPublisher, PresenceSignal } from '../../src/application';
import { PresenceTracker } from '../../src/infrastructure/receiver/presence-tracker';
import { RedisPresenceStore } from '../../src/infrastructure/redis/redis-presence-store.adapter';

const CLAIM_MS = 1000;
const CHAT: ChatAddress = { chatId: '00000000-0000-4000-8000-00000000c4a7', partition: 3 };

/** The announcements a tracker would publish, in order. */
class Announcements implements Pick<EphemeralPublisher, 'publishPresence'> {
  readonly signals: PresenceSignal[] = [];
  async publishPresence(_: readonly ChatAddress[], signal: PresenceSignal): Promise<void> {
    this.signals.push(signal);
  }
  /** The user's transitions, online or not; each version above the one before. */
  of(userId: string): boolean[] {
    const signals = this.signals.filter((signal) => signal.userId === userId);
    signals.forEach((signal, i) => expect(signal.version).toBeGreaterThan(i === 0 ? 0 : signals[i - 1]!.version));
    return signals.map((signal) => signal.online);
  }
}

/**
 * Receivers on one registry (a key prefix of their own): each a store and its tracker, on the test's
 * clock, never renewing by themselves (the test calls `beat`). Stopped together at the end.
 */
class Receivers {
  readonly stores: RedisPresenceStore[] = [];
  readonly trackers: PresenceTracker[] = [];

  constructor(private readonly prefix: string, private readonly now: () => number) {}

  start(id: string, publisher: Pick<EphemeralPublisher, 'publishPresence'>, onError: (error: unknown) => void = (error) => { throw error; }) {
    const store = new RedisPresenceStore({ target: { url: process.env.TEST_REDIS_URL! }, prefix: this.prefix, commandTimeoutMs: 2000, receiverId: id, claimMs: CLAIM_MS, onError });
    const tracker = new PresenceTracker({ store, publisher: publisher as EphemeralPublisher, chatsOf: async () => [CHAT], intervalMs: 3_600_000, now: this.now, onError });
    this.stores.push(store);
    this.trackers.push(tracker);
    return { store, tracker };
  }

  async stop(): Promise<void> {
    for (const tracker of this.trackers) await tracker.stop();
    await Promise.all(this.stores.map((store) => store.close()));
  }
}

/**
 * The presence store's scripts on a real Redis with two receivers' trackers, each on a clock the test
 * moves, so that a registration lapses when the test says and no timer of theirs ever fires: the
 * test calls `beat` itself.
 */
describe('presence claims, transitions and sweeps in Redis', () => {
  let now = Date.now();
  const receivers = new Receivers(`presence-store-${randomBytes(3).toString('hex')}:`, () => now);
  const stores = receivers.stores;
  const announcements = new Announcements();
  const receiver = (id: string): PresenceTracker => receivers.start(id, announcements).tracker;

  afterAll(() => receivers.stop());

  it('decides each transition once across receivers, sweeps a lapsed receiver, and a stalled one claims its users back', async () => {
    const a = receiver('a');
    const b = receiver('b');
    await Promise.all([a.beat(), b.beat()]);

    // Bob's sockets on both receivers at once: one online, whoever was first.
    a.connected('bob');
    b.connected('bob');
    await Promise.all([a.settled(), b.settled()]);
    expect(announcements.of('bob')).toEqual([true]);
    // One of the two closes: still online, nothing announced.
    b.disconnected('bob');
    await b.settled();
    expect(announcements.of('bob')).toHaveLength(1);
    expect((await stores[1]!.lookup(['bob']))[0]).toMatchObject({ online: true });

    // Receiver a stalls: b renews past a's claim and sweeps it.
    now += CLAIM_MS + 1;
    await b.beat();
    await b.background();
    expect(announcements.of('bob')).toEqual([true, false]);
    expect((await stores[1]!.lookup(['bob']))[0]).toMatchObject({ online: false, lastSeenAt: new Date(now).toISOString() });
    // A second sweep finds nothing left to do.
    await b.beat();
    await b.background();
    expect(announcements.of('bob')).toHaveLength(2);

    // Receiver a comes back: its registration had lapsed, so it claims its users again.
    await a.beat();
    await a.settled();
    expect(announcements.of('bob')).toEqual([true, false, true]);
    expect((await stores[1]!.lookup(['bob']))[0]).toMatchObject({ online: true });

    // Bob's last socket closes: offline once, and lastSeenAt is that moment.
    now += 10;
    a.disconnected('bob');
    await a.settled();
    expect(announcements.of('bob')).toEqual([true, false, true, false]);
    expect((await stores[0]!.lookup(['bob']))[0]).toEqual({ userId: 'bob', online: false, lastSeenAt: new Date(now).toISOString() });
  });

  it('announces again, at its next renewal, a transition that could not go out: the state as it is then, once', async () => {
    // Given a receiver whose announcements fail while Redis (or PostgreSQL) is away
    let away = false;
    const heard = new Announcements();
    const errors: unknown[] = [];
    const publisher = {
      publishPresence: async (chats: readonly ChatAddress[], signal: PresenceSignal) => {
        if (away) throw new Error('Redis is away');
        await heard.publishPresence(chats, signal);
      },
    };
    const { store, tracker: c } = receivers.start('c', publisher, (error) => errors.push(error));
    await c.beat();

    // When carol comes online while nothing can be announced
    away = true;
    c.connected('carol');
    await c.settled();
    expect(heard.of('carol')).toEqual([]);
    expect(errors.length).toBeGreaterThan(0);
    expect(c.pending).toBe(1);
    expect((await store.lookup(['carol']))[0]).toMatchObject({ online: true });

    // Then the next renewal after it is back announces it
    away = false;
    await c.beat();
    await c.background();
    expect(heard.of('carol')).toEqual([true]);
    expect(c.pending).toBe(0);

    // And of two transitions that failed, only the newest goes out (offline, then online again)
    away = true;
    c.disconnected('carol');
    await c.settled();
    c.connected('carol');
    await c.settled();
    expect(heard.of('carol')).toEqual([true]);
    expect(c.pending).toBe(1);
    away = false;
    await c.beat();
    await c.background();
    expect(heard.of('carol')).toEqual([true, true]);
    expect(c.pending).toBe(0);
  });

  it('answers users it never saw as offline, never seen', async () => {
    const { store } = receivers.start('reader', announcements);
    expect(await store.lookup(['nobody', 'weird:id {x}'])).toEqual([
      { userId: 'nobody', online: false, lastSeenAt: null },
      { userId: 'weird:id {x}', online: false, lastSeenAt: null },
    ]);
  });
});

/**
 * The races two receivers' views of the registry allow, each on a registry of its own: a receiver
 * decides with what its last registration saw, which may be up to an interval old.
 */
describe('presence decisions on a registry seen a while ago', () => {
  let now = Date.now();
  const registries: Receivers[] = [];

  /** Receivers on a registry of their own, and what they announce. */
  const cluster = () => {
    const receivers = new Receivers(`presence-race-${randomBytes(3).toString('hex')}:`, () => now);
    registries.push(receivers);
    const heard = new Announcements();
    return {
      heard,
      receiver: (id: string, onError?: (error: unknown) => void, publisher: Pick<EphemeralPublisher, 'publishPresence'> = heard) => receivers.start(id, publisher, onError),
    };
  };

  afterAll(async () => {
    for (const receivers of registries) await receivers.stop();
  });

  it('keeps a user online when their other socket is on a receiver that registered after this one last did', async () => {
    // Given dana on receiver a, and then receiver b starting (a has not renewed since) and dana connecting there too
    const { heard, receiver } = cluster();
    const a = receiver('a');
    await a.tracker.beat();
    a.tracker.connected('dana');
    await a.tracker.settled();
    const b = receiver('b');
    await b.tracker.beat();
    b.tracker.connected('dana');
    await b.tracker.settled();

    // When her socket on a closes
    a.tracker.disconnected('dana');
    await a.tracker.settled();

    // Then she stays online: once announced, and online as the query answers
    expect(heard.of('dana')).toEqual([true]);
    expect((await a.store.lookup(['dana']))[0]).toMatchObject({ online: true });
    // And she goes offline once, when her last socket closes
    b.tracker.disconnected('dana');
    await b.tracker.settled();
    expect(heard.of('dana')).toEqual([true, false]);
  });

  it('leaves alone what a stalled receiver claimed again after the sweeper saw it lapse', async () => {
    // Given erin on receiver a, and a stalled past its claim
    const { heard, receiver } = cluster();
    const a = receiver('a');
    const b = receiver('b');
    await Promise.all([a.tracker.beat(), b.tracker.beat()]);
    a.tracker.connected('erin');
    await a.tracker.settled();
    now += CLAIM_MS + 1;

    // When b's registration sees a lapsed, then a comes back and claims erin again before b sweeps it
    await b.store.register(now);
    await a.tracker.beat();
    await a.tracker.settled();
    const swept = await b.store.sweep('a', now);

    // Then the sweep takes nothing off a: erin stays online, announced once, and a still lists her
    expect(swept).toEqual([]);
    expect(heard.of('erin')).toEqual([true]);
    expect((await b.store.lookup(['erin']))[0]).toMatchObject({ online: true });
    expect(await a.store.claimed()).toEqual(['erin']);
  });

  it('announces a user offline once when their socket closes on one receiver and the dead receiver that also held them is swept', async () => {
    // Given finn on receivers a and x, and x dead (its claim lapsed, not swept yet)
    const { heard, receiver } = cluster();
    const a = receiver('a');
    const x = receiver('x');
    await Promise.all([a.tracker.beat(), x.tracker.beat()]);
    a.tracker.connected('finn');
    x.tracker.connected('finn');
    await Promise.all([a.tracker.settled(), x.tracker.settled()]);
    now += CLAIM_MS + 1;
    await a.store.register(now);

    // When finn's socket on a closes, and then a sweeps x
    a.tracker.disconnected('finn');
    await a.tracker.settled();
    const swept = await a.store.sweep('x', now);

    // Then finn went offline once: the sweep finds nothing more to announce
    expect(heard.of('finn')).toEqual([true, false]);
    expect(swept).toEqual([]);
    expect((await a.store.lookup(['finn']))[0]).toMatchObject({ online: false });
  });

  it('sweeps a field left from an earlier registration of the same receiver, so a release that failed cannot keep a user online', async () => {
    // Given gus claimed on a, then a lapsed and came back under a new generation without releasing him (its release failed)
    const { heard, receiver } = cluster();
    const a = receiver('a');
    const b = receiver('b');
    await Promise.all([a.tracker.beat(), b.tracker.beat()]);
    await a.store.attach('gus');
    now += CLAIM_MS + 1;
    expect((await a.store.register(now)).rejoined).toBe(true);

    // When a lapses again and b sweeps it
    now += CLAIM_MS + 1;
    await b.store.register(now);
    const swept = await b.store.sweep('a', now);

    // Then gus goes offline: the earlier generation's field is swept with the later one
    expect(swept.map((signal) => [signal.userId, signal.online])).toEqual([['gus', false]]);
    expect((await b.store.lookup(['gus']))[0]).toMatchObject({ online: false });
    expect(heard.of('gus')).toEqual([]);
  });

  it('makes a receiver that another saw lapse take a new generation, even when its own clock says its claim held', async () => {
    // Given a and b registered, and b registering just after a's claim ran out (a was slow)
    const { receiver } = cluster();
    const a = receiver('a');
    const b = receiver('b');
    await Promise.all([a.tracker.beat(), b.tracker.beat()]);
    const deadline = now + CLAIM_MS;
    expect((await b.store.register(deadline + 1)).lapsed).toEqual(['a']);

    // When a's late renewal arrives with a clock a little behind
    const renewal = await a.store.register(deadline - 3);

    // Then a rejoins (it reclaims its users), since b may sweep what it claimed before
    expect(renewal.rejoined).toBe(true);
  });

  it('announces a decision whose answer was lost, at the next renewal', async () => {
    // Given receiver a, whose first claim of hal is decided in Redis but the answer never arrives
    const { heard, receiver } = cluster();
    const errors: unknown[] = [];
    const a = receiver('a', (error) => errors.push(error));
    await a.tracker.beat();
    const attach = a.store.attach.bind(a.store);
    a.store.attach = async (userId: string) => {
      await attach(userId);
      throw new Error('the answer was lost');
    };
    a.tracker.connected('hal');
    await a.tracker.settled();
    expect(heard.of('hal')).toEqual([]);
    expect(errors.length).toBeGreaterThan(0);

    // When it renews
    a.store.attach = attach;
    await a.tracker.beat();
    await a.tracker.background();

    // Then hal is announced online, with the version the store decided
    expect(heard.of('hal')).toEqual([true]);
    expect((await a.store.lookup(['hal']))[0]).toMatchObject({ online: true });
  });

  it('never undoes a newer transition when it announces a kept one again', async () => {
    // Given ivy offline on a while a cannot announce, then online on b, announced
    const { heard, receiver } = cluster();
    let away = false;
    const errors: unknown[] = [];
    const a = receiver('a', (error) => errors.push(error), {
      publishPresence: async (chats: readonly ChatAddress[], signal: PresenceSignal) => {
        if (away) throw new Error('Redis is away');
        await heard.publishPresence(chats, signal);
      },
    });
    const b = receiver('b');
    await Promise.all([a.tracker.beat(), b.tracker.beat()]);
    a.tracker.connected('ivy');
    await a.tracker.settled();
    away = true;
    a.tracker.disconnected('ivy');
    await a.tracker.settled();
    b.tracker.connected('ivy');
    await b.tracker.settled();
    expect(heard.of('ivy')).toEqual([true, true]);

    // When a can announce again
    away = false;
    await a.tracker.beat();
    await a.tracker.background();

    // Then what a sends is ivy's state now (online), not the offline it kept
    const last = heard.signals.filter((signal) => signal.userId === 'ivy').at(-1)!;
    expect(last.online).toBe(true);
    expect((await b.store.lookup(['ivy']))[0]).toMatchObject({ online: true });
  });
});
