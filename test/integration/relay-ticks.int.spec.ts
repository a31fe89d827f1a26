import { randomUUID } from 'node:crypto';
import { compareCursors, EventTransport, type FeedSubscriber, type PublishOptions, type PublishOutcome, type RelayedRecord } from '../../src/application';
import { TAKE_APPEND_LOCK } from '../../src/infrastructure/persistence/commit-order';
import { openDatabase, type Database } from '../../src/infrastructure/persistence/database';
import { settlePartitionCount } from '../../src/infrastructure/persistence/partition-count';
import { OutboxReader } from '../../src/infrastructure/relay/outbox-reader';
import { OutboxRelay } from '../../src/infrastructure/relay/outbox-relay';
import { eventually } from '../support/eventually';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';

const PARTITIONS = 2;

/** Records every publish, in order; it never refuses, and fails the partitions in `failing` (their Redis master is away). */
class RecordingTransport extends EventTransport {
  readonly publishes: { partition: number; rows: string[]; tick: string | undefined }[] = [];
  readonly failing = new Set<number>();

  async publish(partition: number, records: RelayedRecord[], options: PublishOptions = {}): Promise<PublishOutcome> {
    if (this.failing.has(partition)) throw new Error(`the master of partition ${partition} does not answer`);
    this.publishes.push({ partition, rows: records.map((record) => record.position), tick: options.tick });
    return { published: true };
  }

  subscriber(): FeedSubscriber {
    throw new Error('the relay never subscribes');
  }

  ticks(partition: number): string[] {
    return this.publishes.filter((entry) => entry.partition === partition && entry.tick !== undefined).map((entry) => entry.tick!);
  }

  rows(partition: number): string[] {
    return this.publishes.filter((entry) => entry.partition === partition).flatMap((entry) => entry.rows);
  }
}

/**
 * What a relay's progress ticks may say (DESIGN.md §3 "Progress ticks"), on the real outbox: a receiver
 * out of sync reads a partition up to its tick, so a tick must never say less than the partition has
 * published already; and between ticks a relay needs no look at the head.
 */
describe('relay progress per partition: ticks, and a partition that fails alone', () => {
  let database: TestDatabase;
  let db: Database;
  /** One chat per partition; rows are written straight to the outbox, under the append lock. */
  const chats = [randomUUID(), randomUUID()];

  async function post(partition: number): Promise<string> {
    const chatId = chats[partition]!;
    const message = { channel: 'messageAdded', payload: { content: 'x' }, meta: { eventId: randomUUID(), cursor: '0.0', chatId, occurredAt: new Date().toISOString() } };
    return withClient(database.url, async (c) => {
      await c.query(`begin; ${TAKE_APPEND_LOCK}`);
      const { rows } = await c.query(`insert into outbox (payload, chat_id, partition) values ($1::jsonb, $2, $3) returning tx_id::text || '.' || id::text as position`, [
        JSON.stringify([message]),
        chatId,
        partition,
      ]);
      await c.query('commit');
      return rows[0].position as string;
    });
  }

  async function saveCheckpoint(partition: number, position: string): Promise<void> {
    const [txId, id] = position.split('.');
    await withClient(database.url, (c) =>
      c.query(
        `insert into relay_checkpoints (name, tx_id, outbox_id) values ($1, $2::xid8, $3::bigint)
         on conflict (name) do update set tx_id = excluded.tx_id, outbox_id = excluded.outbox_id`,
        [`partition:${partition}`, txId, id],
      ),
    );
  }

  /** Batches until one reports nothing more waiting and publishes no row. */
  async function drain(relay: OutboxRelay, transport: RecordingTransport): Promise<void> {
    for (;;) {
      const before = transport.publishes.reduce((sum, entry) => sum + entry.rows.length, 0);
      const more = await relay.relayBatch();
      const after = transport.publishes.reduce((sum, entry) => sum + entry.rows.length, 0);
      if (!more && after === before) return;
    }
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.url, dataDir: '', poolMax: 4 });
    await db.migrate();
    await settlePartitionCount(db.orm, PARTITIONS);
  });

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await db.close();
    await database.drop();
  });

  it('never ticks a partition below what it published, while draining from another partition that is behind', async () => {
    // Partition 0 was published up to its last row; partition 1 is behind, so pages start below partition 0's checkpoint.
    const early: string[] = [];
    for (let i = 0; i < 3; i++) early.push(await post(0), await post(1));
    await saveCheckpoint(0, early[early.length - 2]!);
    const late = [await post(1), await post(1)];

    const transport = new RecordingTransport();
    // One row per page, and a tick with every publish: every page but the last is cut below partition 0's checkpoint.
    const relay = new OutboxRelay(db.orm, transport, { partitions: PARTITIONS, batchSize: 1, tickEveryMs: 0, onError: (error) => { throw error; } });
    await drain(relay, transport);

    const checkpoint0 = early[early.length - 2]!;
    expect(transport.ticks(0).length).toBeGreaterThan(1);
    for (const tick of transport.ticks(0)) expect(compareCursors(tick, checkpoint0)).toBeGreaterThanOrEqual(0);
    expect(transport.rows(0)).toEqual([]);
    expect(transport.rows(1)).toEqual([...early.filter((_, i) => i % 2 === 1), ...late]);
  });

  it('reads the head only when a tick is due: a row between ticks costs no look at the head', async () => {
    const transport = new RecordingTransport();
    const relay = new OutboxRelay(db.orm, transport, { partitions: PARTITIONS, tickEveryMs: 60_000, onError: (error) => { throw error; } });
    await drain(relay, transport); // claims both partitions with a tick at the head
    const heads = jest.spyOn(OutboxReader.prototype, 'head');

    const row = await post(1);
    await relay.relayBatch();

    expect(transport.rows(1)).toContain(row);
    expect(heads).not.toHaveBeenCalled();
    // The row's publish carries no tick: none is due for a minute.
    expect(transport.publishes[transport.publishes.length - 1]).toEqual({ partition: 1, rows: [row], tick: undefined });
  });

  it('says it caught up only once the round\'s hooks ran: the original channels are out before whenCaughtUp resolves', async () => {
    // Given a relay whose hook after publishing (the original channels) is held up in the middle of a round
    const transport = new RecordingTransport();
    let hold = false;
    let release = () => {};
    let entered = () => {};
    const hookEntered = new Promise<void>((resolve) => (entered = resolve));
    const hooked: string[][] = [];
    const relay = new OutboxRelay(db.orm, transport, {
      partitions: PARTITIONS,
      tickEveryMs: 60_000,
      onError: (error) => { throw error; },
      afterPublished: async (records) => {
        if (hold) {
          entered();
          await new Promise<void>((resolve) => (release = resolve));
        }
        hooked.push(records.map((record) => record.position));
      },
    });
    await post(0);
    await drain(relay, transport);
    hold = true;
    const row = await post(1);
    const round = relay.relayBatch();
    await hookEntered;
    expect(transport.rows(1)).toContain(row); // the row is published and its checkpoint moved

    // When someone asks whether the relay caught up, while that hook still runs
    const heads = jest.spyOn(OutboxReader.prototype, 'head');
    let caughtUp = false;
    const asked = relay.whenCaughtUp(10_000).then(() => (caughtUp = true));
    await heads.mock.results[0]!.value;
    await new Promise((resolve) => setImmediate(resolve));

    // Then the answer waits for the hook, and comes once it has run
    expect(caughtUp).toBe(false);
    release();
    await round;
    await asked;
    expect(hooked.at(-1)).toEqual([row]);
  });

  it('keeps publishing and ticking the partitions that answer while another one fails, and publishes the failed one\'s rows in order once it answers', async () => {
    // Given a relay that has published both partitions, and then partition 1's Redis master stops answering
    const transport = new RecordingTransport();
    const errors: unknown[] = [];
    const relay = new OutboxRelay(db.orm, transport, { partitions: PARTITIONS, batchSize: 1, tickEveryMs: 0, onError: (error) => errors.push(error) });
    await drain(relay, transport);
    transport.failing.add(1);

    // When rows of partition 1 wait behind rows of partition 0 that come after them, one row per page
    const stuck = [await post(1), await post(1)];
    const flowing = [await post(0), await post(0), await post(0)];
    for (let round = 0; round < 20 && transport.rows(0).filter((row) => flowing.includes(row)).length < flowing.length; round++) await relay.relayBatch();

    // Then partition 0's rows and ticks go out, never thrown back as the whole relay's failure
    expect(transport.rows(0).filter((row) => flowing.includes(row))).toEqual(flowing);
    expect(transport.ticks(0).some((tick) => compareCursors(tick, flowing[2]!) >= 0)).toBe(true);
    expect(transport.rows(1).filter((row) => stuck.includes(row))).toEqual([]);
    expect(errors.length).toBeGreaterThan(0);

    // And once partition 1's master answers again, its rows go out, in order, once
    transport.failing.clear();
    await eventually(async () => {
      await relay.relayBatch();
      expect(transport.rows(1).filter((row) => stuck.includes(row))).toEqual(stuck);
    });
  });
});
