import type { RunningServer } from '../../src/interfaces/composition/server';
import { rebuildReadModels } from '../../src/infrastructure/persistence/read-model-rebuild';
import { asTheOnlyPruner, pruneOutbox, type PruneOptions } from '../../src/infrastructure/relay/outbox-prune';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const DAY = 86_400_000;
const CREATE = 'mutation($p: [ID!]!) { createChat(input: { name: "c", participantIds: $p }) { id } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id } }';
const MESSAGES = 'query($c: ID!) { messages(chatId: $c, limit: 100) { messages { content seq } } }';

/**
 * Outbox retention (DESIGN.md §4): the pruner deletes published rows older than the retention in
 * batches, never a row a relay has not published and never each chat's newest row, and leaves the
 * events, so that the read models can be rebuilt after it.
 */
describe('the outbox pruner', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let alice: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url, { HTTP_OPERATIONS_PER_SECOND: '100000' });
    alice = await tokenFor('alice');
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  const sql = <R>(text: string, params: unknown[] = []) => withClient(database.url, async (client) => (await client.query(text, params)).rows as R[]);
  const prune = (options: Partial<PruneOptions> = {}) =>
    asTheOnlyPruner(server.database.orm, database.url, { connectTimeoutMs: 5000, statementTimeoutMs: null }, (query) =>
      pruneOutbox(query, { retentionMs: 30 * DAY, now: new Date(), ...options }),
    );
  const newChat = async () => (await ok(server.url, alice, CREATE, { p: ['bob'] })).createChat.id as string;
  const posts = async (chatId: string, count: number, label: string) => {
    for (let i = 1; i <= count; i++) await ok(server.url, alice, POST, { c: chatId, t: `${label} ${i}` });
  };
  const outboxRowsOf = async (chatId: string) => (await sql<{ n: number }>('select count(*)::int as n from outbox where chat_id = $1', [chatId]))[0]!.n;
  const eventsOf = async (chatId: string) => (await sql<{ n: number }>('select count(*)::int as n from events where stream_id = $1', [chatId]))[0]!.n;
  /** Every row written so far counts as written `days` ago. */
  const age = (days: number) => sql(`update outbox set created_at = now() - make_interval(days => $1)`, [days]);

  it('counts in a dry run, then deletes old published rows in batches, keeping each chat’s newest row and every event', async () => {
    const busy = await newChat();
    const quiet = await newChat();
    await posts(busy, 6, 'busy');
    await posts(quiet, 1, 'quiet');
    await server.realtime.whenCaughtUp();
    await age(40);
    const before = await sql<{ id: string }>('select id::text from outbox order by id');

    const dry = await prune({ dryRun: true });
    expect(await sql('select id::text from outbox order by id')).toEqual(before);
    expect(await sql('select * from outbox_pruned')).toEqual([]);

    const progress: [number, number | undefined][] = [];
    const summary = await prune({ batchSize: 2, onProgress: (done, total) => progress.push([done, total]) });

    // busy: its creation and 5 of its 6 posts go; quiet: its creation goes, its one post stays.
    expect(summary).toMatchObject({ deleted: 7, keptNewest: 2, unpublished: 0 });
    expect(dry).toEqual(summary);
    expect(await outboxRowsOf(busy)).toBe(1);
    expect(await outboxRowsOf(quiet)).toBe(1);
    expect(await eventsOf(busy)).toBe(7);
    // Several batches of two, each reported, up to the whole.
    expect(progress.length).toBeGreaterThan(4);
    expect(progress[progress.length - 1]).toEqual([9, 9]);
    expect((await sql<{ n: number }>('select count(*)::int as n from outbox_pruned'))[0]!.n).toBeGreaterThan(0);
  });

  it('leaves the progress total unknown on a large outbox rather than scanning it first', async () => {
    const chatId = await newChat();
    await posts(chatId, 3, 'large');
    await server.realtime.whenCaughtUp();
    await age(40);
    await sql('analyze outbox');
    const progress: [number, number | undefined][] = [];
    // Any outbox counts as large here.
    await prune({ exactTotalBelow: 1, onProgress: (done, total) => progress.push([done, total]) });
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.slice(0, -1).every(([, total]) => total === undefined)).toBe(true);
    const [done, total] = progress[progress.length - 1]!;
    expect(total).toBe(done);
  });

  it('leaves rows younger than the retention', async () => {
    const chatId = await newChat();
    await posts(chatId, 3, 'young');
    await server.realtime.whenCaughtUp();
    await sql(`update outbox set created_at = now() - interval '29 days' where chat_id = $1`, [chatId]);

    await prune();

    expect(await outboxRowsOf(chatId)).toBe(4);
  });

  it('never deletes a row that a relay has not published', async () => {
    const chatId = await newChat();
    await posts(chatId, 4, 'held');
    await server.realtime.whenCaughtUp();
    await age(40);
    // As if the relay of the chat's partition had published only up to the chat's second row.
    const rows = await sql<{ tx_id: string; id: string; partition: number }>(
      'select tx_id::text, id::text, partition from outbox where chat_id = $1 order by tx_id, id', [chatId]);
    const saved = await sql<{ tx_id: string; outbox_id: string }>(
      `select tx_id::text, outbox_id::text from relay_checkpoints where name = $1`, [`partition:${rows[0]!.partition}`]);
    const wait = server.realtime.relay!.stop();
    await wait;
    await sql('update relay_checkpoints set tx_id = $1::xid8, outbox_id = $2 where name = $3', [rows[1]!.tx_id, rows[1]!.id, `partition:${rows[0]!.partition}`]);

    const summary = await prune();

    // Row 1 goes (row 2, published, follows it); row 2 stays as the newest published; 3 to 5 were never published.
    const left = await sql<{ id: string }>('select id::text from outbox where chat_id = $1 order by tx_id, id', [chatId]);
    expect(left.map((row) => row.id)).toEqual(rows.slice(1).map((row) => row.id));
    expect(summary!.unpublished).toBeGreaterThanOrEqual(3);
    await sql('update relay_checkpoints set tx_id = $1::xid8, outbox_id = $2 where name = $3', [saved[0]!.tx_id, saved[0]!.outbox_id, `partition:${rows[0]!.partition}`]);
    server.realtime.relay!.start();
  });

  it('leaves what the read models are rebuilt from: the rebuilt chats keep their partitions and their messages', async () => {
    const chatId = await newChat();
    await posts(chatId, 3, 'kept');
    await server.realtime.whenCaughtUp();
    await age(40);
    await prune();
    expect(await outboxRowsOf(chatId)).toBe(1);
    const partitionsBefore = await sql('select id, partition from chats order by id');
    // The number of partitions has grown since these chats were made: a rebuilt chat must keep its own.
    await sql('update relay_settings set partitions = 64');

    await rebuildReadModels(server.database.orm);

    expect(await sql('select id, partition from chats order by id')).toEqual(partitionsBefore);
    const page = await ok(server.url, alice, MESSAGES, { c: chatId });
    expect(page.messages.messages.map((m: { content: string }) => m.content)).toEqual(['kept 1', 'kept 2', 'kept 3']);
    await sql('update relay_settings set partitions = 16');
  });

  it('runs one pruner at a time', async () => {
    const other = await withClient(database.url, async (client) => {
      await client.query('select pg_advisory_lock(7071021600)');
      try {
        return await prune();
      } finally {
        await client.query('select pg_advisory_unlock(7071021600)');
      }
    });
    expect(other).toBeNull();
  });
});

describe('the relays’ background pruner', () => {
  let database: TestDatabase;
  let server: RunningServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url, { OUTBOX_RETENTION: '1h', OUTBOX_PRUNE_INTERVAL_MS: '50' });
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  it('prunes rows older than OUTBOX_RETENTION on its own', async () => {
    const alice = await tokenFor('alice');
    const chatId = (await ok(server.url, alice, CREATE, { p: ['bob'] })).createChat.id as string;
    for (let i = 0; i < 3; i++) await ok(server.url, alice, POST, { c: chatId, t: `m${i}` });
    await server.realtime.whenCaughtUp();
    const count = () =>
      withClient(database.url, async (client) => (await client.query<{ n: number }>('select count(*)::int as n from outbox where chat_id = $1', [chatId])).rows[0]!.n);
    expect(await count()).toBe(4);

    await withClient(database.url, (client) => client.query(`update outbox set created_at = now() - interval '2 hours'`));

    // The pruner runs on its own timer: polled until it has been round.
    await eventually(async () => expect(await count()).toBe(1));
    // And says so on /metrics once its run is over: at least this chat's three rows (other chats' old rows count too).
    const pruned = async () => (await server.metrics.registry.getSingleMetric('parley_outbox_pruned_rows_total')!.get()).values[0]!.value;
    await eventually(async () => expect(await pruned()).toBeGreaterThanOrEqual(3));
  });
});
