import { randomBytes, randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { openDatabase, type Database } from '../../src/infrastructure/persistence/database';
import { RedisTransport, RELAY_EPOCH_KEY } from '../../src/infrastructure/redis/redis-transport.adapter';
import { OutboxRelay } from '../../src/infrastructure/relay/outbox-relay';
import type { RelayLead } from '../../src/infrastructure/relay/relay-lead';
import { RelayLeadership } from '../../src/infrastructure/relay/relay-leadership';
import { eventually } from '../support/eventually';
import { freePort, TestRedisServer } from '../support/redis-server';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';

/** Short enough for a test, long enough that a loaded machine does not miss a heartbeat by a lease. */
const LEASE_MS = 1500;
const RETRY_MS = 100;
/** A standby sees the leader's row within a retry, waits a lease, ends the session, takes the lock. */
const TAKEOVER_BOUND_MS = LEASE_MS + 10 * RETRY_MS + 2000;

interface Node {
  name: string;
  leadership: RelayLeadership;
  relay: OutboxRelay;
  frozen: boolean;
}

/** A relay that read its epoch just before its process froze: it still believes it leads under `epoch`. */
interface StaleRelay {
  relay: OutboxRelay;
  transport: RedisTransport;
  refusals: (number | undefined)[];
}

/**
 * Defect 8 of issue 7: a frozen relay leader keeps its PostgreSQL session and its advisory lock. Two and
 * three leaderships with their relays in this process, on the real PostgreSQL and a Redis of the test's
 * own: a frozen one (its timer stops, as a stopped process's would) is replaced within the lease, and
 * what it still sends under its old epoch is refused by Redis and by PostgreSQL. One story, step by step.
 */
describe('relay fencing: a frozen leader is replaced and cannot publish after', () => {
  let database: TestDatabase;
  let db: Database;
  let redis: TestRedisServer;
  let listener: Redis;
  const prefix = `fence-${randomBytes(3).toString('hex')}:`;
  /** Every messageAdded that reached a Redis subscriber, by its content. */
  const heard: string[] = [];
  const nodes = new Map<string, Node>();
  const transports: RedisTransport[] = [];
  const stale: Record<string, StaleRelay> = {};

  const transport = () => {
    const created = new RedisTransport({ url: redis.url, prefix, onError: () => undefined });
    transports.push(created);
    return created;
  };

  function startNode(name: string): Node {
    const node = { name, frozen: false } as Node;
    node.leadership = new RelayLeadership({
      databaseUrl: database.url,
      leaseMs: LEASE_MS,
      retryIntervalMs: RETRY_MS,
      holder: name,
      frozen: () => node.frozen,
      onError: () => undefined,
    });
    node.relay = new OutboxRelay(db.orm, transport(), { pollIntervalMs: RETRY_MS, lead: node.leadership, onError: () => undefined });
    node.relay.start();
    node.leadership.start();
    nodes.set(name, node);
    return node;
  }

  function staleRelay(epoch: number, options: { checkpointEveryMs?: number } = {}): StaleRelay {
    const refusals: (number | undefined)[] = [];
    const lead: RelayLead = {
      name: 'outbox-relay',
      epoch: () => epoch,
      refused: async (fencedBy) => {
        refusals.push(fencedBy);
        return null;
      },
      whenGained: () => undefined,
      stepDown: async () => undefined,
    };
    const carrier = transport();
    return { relay: new OutboxRelay(db.orm, carrier, { lead, onError: () => undefined, ...options }), transport: carrier, refusals };
  }

  const leadershipRow = () =>
    withClient(database.url, async (c) => (await c.query('select epoch::int as epoch, holder, beat::int as beat from relay_leadership')).rows[0]);
  const savedCheckpoint = () =>
    withClient(database.url, async (c) => (await c.query(`select tx_id::text || '.' || outbox_id::text as position from relay_checkpoints`)).rows[0]?.position);
  const positionOf = (content: string) =>
    withClient(database.url, async (c) =>
      (await c.query(`select tx_id::text || '.' || id::text as position from outbox where payload -> 0 -> 'payload' ->> 'content' = $1`, [content])).rows[0]!.position);
  const leaders = () => [...nodes.values()].filter((node) => node.leadership.isLeader && !node.frozen);

  /** The relay's next batch publishes something (it may first have to find the row committed). */
  const publishesNext = (relay: OutboxRelay) => eventually(async () => expect(await relay.relayBatch()).toBe(true));

  /** Commits one outbox row carrying a messageAdded with this content. */
  async function post(content: string): Promise<void> {
    const message = { channel: 'messageAdded', payload: { content }, meta: { eventId: randomUUID(), cursor: '0.0', chatId: randomUUID(), occurredAt: new Date().toISOString() } };
    await withClient(database.url, (c) => c.query('insert into outbox (payload) values ($1::jsonb)', [JSON.stringify([message])]));
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.url, dataDir: '', poolMax: 8 });
    await db.migrate();
    redis = new TestRedisServer(await freePort());
    await redis.start();
    listener = new Redis(redis.url);
    await listener.subscribe(`${prefix}messageAdded`);
    listener.on('message', (_, text) => heard.push(JSON.parse(text).messageAdded.content));
  });

  afterAll(async () => {
    for (const node of nodes.values()) node.frozen = false;
    await Promise.all([...nodes.values()].map((node) => node.relay.stop()));
    await Promise.all([...nodes.values()].map((node) => node.leadership.stop()));
    await Promise.all(transports.map((t) => t.close()));
    listener.disconnect();
    await redis.stop();
    await db.close();
    await database.drop();
  });

  it('has one leader, with epoch 1; a standby does not replace a leader that heartbeats', async () => {
    const a = startNode('a');
    await eventually(() => expect(a.leadership.isLeader).toBe(true));
    expect(a.leadership.epoch()).toBe(1);
    startNode('b');
    const { beat } = await leadershipRow();
    // Two leases of heartbeats, each of which the standby had the chance to find stale.
    await eventually(async () => expect((await leadershipRow()).beat).toBeGreaterThanOrEqual(beat + (2 * LEASE_MS) / RETRY_MS), 4 * LEASE_MS + 5000);
    expect(leaders().map((node) => node.name)).toEqual(['a']);
    expect(await leadershipRow()).toMatchObject({ epoch: 1, holder: 'a' });

    await post('one');
    await eventually(() => expect(heard).toContain('one'));
    // Two relays that read epoch 1 before a's process froze, and published under it.
    stale.batch = staleRelay(1);
    stale.save = staleRelay(1, { checkpointEveryMs: 60_000 });
    await stale.batch.relay.relayBatch();
    await stale.save.relay.relayBatch();
    await post('two');
    await publishesNext(stale.save.relay);
    await post('three');
    // Its second batch: by the checkpoint interval not saved, this progress is in memory only.
    await publishesNext(stale.save.relay);
    await eventually(() => expect(heard).toContain('three'));
  });

  it('replaces a frozen leader within the lease, with the next epoch, and delivers from the new one', async () => {
    const a = nodes.get('a')!;
    const b = nodes.get('b')!;
    a.frozen = true;
    await eventually(() => expect(b.leadership.isLeader).toBe(true), TAKEOVER_BOUND_MS);
    expect(b.leadership.epoch()).toBe(2);
    expect(await leadershipRow()).toMatchObject({ epoch: 2, holder: 'b' });
    // Its session was terminated, which even a frozen leader learns as soon as it runs.
    await eventually(() => expect(a.leadership.isLeader).toBe(false));
    expect(a.leadership.epoch()).toBeNull();

    await post('four');
    await eventually(() => expect(heard).toContain('four'));
    const fencing = new Redis(redis.url);
    expect(await fencing.get(`${prefix}${RELAY_EPOCH_KEY}`)).toBe('2');
    fencing.disconnect();
  });

  it("refuses the old leader's checkpoint save: the new leader's checkpoint stays", async () => {
    // The new leader saves when idle, after 'four'; the old one holds 'three', unsaved.
    const four = await positionOf('four');
    await eventually(async () => expect(await savedCheckpoint()).toBe(four));
    await stale.save.relay.stop();
    expect(stale.save.refusals).toEqual([undefined]);
    expect(await savedCheckpoint()).toBe(four);
  });

  it("refuses the old leader's next batch in Redis, whole: nothing of it reaches a subscriber", async () => {
    await post('five');
    await eventually(() => expect(heard).toContain('five'));
    const heardBefore = [...heard];
    // Its checkpoint is before 'two': 'two' to 'five' are what it would send now.
    expect(await stale.batch.relay.relayBatch()).toBe(false);
    expect(stale.batch.refusals).toEqual([2]);
    // And a batch sent straight to the transport under epoch 1.
    const forged = { channel: 'messageAdded' as const, payload: { content: 'forged' }, meta: { eventId: randomUUID(), cursor: '9999.1', chatId: randomUUID(), occurredAt: new Date().toISOString() } };
    expect(await stale.batch.transport.publish([{ position: '9999.1', previous: '0.0', messages: [forged] }], 1)).toEqual({ published: false, fencedBy: 2 });
    // Redis runs scripts one at a time: whatever the refused ones had sent would be heard before this.
    await post('six');
    await eventually(() => expect(heard).toContain('six'));
    expect(heard).toEqual([...heardBefore, 'six']);
  });

  it('lets exactly one of two racing standbys replace the next frozen leader, with the epoch after', async () => {
    const a = nodes.get('a')!;
    const b = nodes.get('b')!;
    a.frozen = false;
    const c = startNode('c');
    b.frozen = true;
    await eventually(() => expect(leaders()).toHaveLength(1), TAKEOVER_BOUND_MS);
    const [winner] = leaders();
    expect([a, c]).toContain(winner);
    expect(winner!.leadership.epoch()).toBe(3);
    expect(await leadershipRow()).toMatchObject({ epoch: 3, holder: winner!.name });
    await eventually(() => expect(b.leadership.isLeader).toBe(false));
    b.frozen = false;

    const { beat } = await leadershipRow();
    await post('seven');
    await eventually(() => expect(heard).toContain('seven'));
    await eventually(async () => expect((await leadershipRow()).beat).toBeGreaterThanOrEqual(beat + LEASE_MS / RETRY_MS), 4 * LEASE_MS + 5000);
    expect(leaders()).toEqual([winner]);
    expect(heard.filter((content) => content === 'seven')).toHaveLength(1);
  });

  it('leads on above a leftover fencing epoch in Redis (a database recreated under a Redis that kept its key)', async () => {
    const [leader] = leaders();
    const fencing = new Redis(redis.url);
    await fencing.set(`${prefix}${RELAY_EPOCH_KEY}`, '1000');
    await post('eight');
    await eventually(() => expect(heard).toContain('eight'));
    expect(leaders()).toEqual([leader]);
    expect(leader!.leadership.epoch()).toBe(1001);
    expect(await leadershipRow()).toMatchObject({ epoch: 1001, holder: leader!.name });
    expect(await fencing.get(`${prefix}${RELAY_EPOCH_KEY}`)).toBe('1001');
    fencing.disconnect();
  });
});
