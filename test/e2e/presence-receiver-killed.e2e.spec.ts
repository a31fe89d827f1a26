import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { E2E_ENV, ParleyInstances } from '../support/parley-instances';
import { reportTiming } from '../support/report-timing';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { tokenFor } from '../support/test-server';
import { subscribe } from '../support/ws-client';

/** Shorter than the default 10 s so the test takes seconds; the bound below scales with it. */
const PRESENCE_INTERVAL_MS = 3000;
/**
 * A registration holds for two intervals after its last renewal, and the next sweep of another
 * receiver (at most one interval later) announces the lapsed one's users: three intervals, 30 s with
 * the default 10 s (DESIGN.md §10).
 */
const OFFLINE_BOUND_MS = 3 * PRESENCE_INTERVAL_MS;

type Presence = { userId: string; online: boolean; lastSeenAt: string | null };

/**
 * A receiver killed with SIGKILL says nothing of its users: its registration lapses, another receiver
 * sweeps it under a lease and announces them offline; meanwhile nobody reads them as online past the lapse.
 */
describe('presence when a receiver is killed', () => {
  let database: TestDatabase;
  const instances = new ParleyInstances(() => ({
    ...E2E_ENV,
    DATABASE_URL: database.url,
    REDIS_URL: process.env.TEST_REDIS_URL,
    REDIS_CHANNEL_PREFIX: prefix,
    PRESENCE_INTERVAL_MS: String(PRESENCE_INTERVAL_MS),
  }));
  const prefix = `presence-kill-${randomBytes(3).toString('hex')}:`;

  beforeAll(async () => {
    database = await createTestDatabase();
    await instances.migrateAndStart([
      ['hub', 'sender,relay'],
      ['doomed', 'receiver'],
      ['survivor', 'receiver'],
    ]);
  });

  afterAll(async () => {
    await instances.disposeClients();
    await instances.stopAll();
    await database.drop();
  });

  it('announces the killed receiver’s users offline within three intervals, and stops reading them as online', async () => {
    const [alice, bob, carol, pat] = await Promise.all(['alice', 'bob', 'carol', 'pat'].map((user) => tokenFor(user)));
    await ok(instances.url('hub'), alice, 'mutation { createChat(input: { name: "kill", participantIds: ["bob", "carol", "pat"] }) { id } }');
    const watcher = subscribe<Presence>(instances.client('survivor', alice), 'subscription { presenceChanged { userId online lastSeenAt } }');
    // Live once it hears Pat, who comes and goes until it has: transitions before that are not sent again.
    await watcher.pokeUntil(() => watcher.items.some((item) => item.userId === 'pat'), async () => instances.client('survivor', pat).dispose(), "pat's transitions", { attempts: 40, waitMs: 500 });
    const presence = async (userIds: string[]) =>
      (await ok<{ presence: Presence[] }>(instances.url('hub'), alice, 'query($u: [ID!]!) { presence(userIds: $u) { userId online } }', { u: userIds })).presence;
    // Bob's only socket is on the doomed receiver; Carol has one on each.
    instances.client('doomed', bob);
    instances.client('doomed', carol);
    instances.client('survivor', carol);
    await eventually(async () => expect(await presence(['bob', 'carol'])).toEqual([{ userId: 'bob', online: true }, { userId: 'carol', online: true }]), 20_000);
    await watcher.until(() => watcher.items.some((item) => item.userId === 'bob' && item.online), 20_000, 'bob online');

    const killedAt = performance.now();
    await instances.kill('doomed');
    await watcher.until(() => watcher.items.some((item) => item.userId === 'bob' && !item.online), OFFLINE_BOUND_MS + 5000, 'bob offline');
    const announcedAfterMs = performance.now() - killedAt;
    expect(await presence(['bob', 'carol'])).toEqual([{ userId: 'bob', online: false }, { userId: 'carol', online: true }]);
    // Carol kept a socket on the survivor: no transition of hers was announced.
    expect(watcher.items.filter((item) => item.userId === 'carol').every((item) => item.online)).toBe(true);
    expect(watcher.items.filter((item) => item.userId === 'bob').map((item) => item.online)).toEqual([true, false]);
    reportTiming(`presence: a killed receiver's user announced offline after ${Math.round(announcedAfterMs)} ms (bound ${OFFLINE_BOUND_MS} ms)`);
    expect(announcedAfterMs).toBeLessThan(OFFLINE_BOUND_MS + 5000);
  });
});
