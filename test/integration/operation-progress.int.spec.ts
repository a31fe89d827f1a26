import { InProcessTransport } from '../../src/infrastructure/relay/in-process-transport.adapter';
import { rebuildReadModels } from '../../src/infrastructure/persistence/read-model-rebuild';
import { openDatabase, type Database } from '../../src/infrastructure/persistence/database';
import { replayOutbox } from '../../src/infrastructure/relay/outbox-replay';
import { MIGRATIONS } from '../../src/infrastructure/persistence/migrations';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

type Report = [done: number, total: number];

/**
 * The counts the long operations hand their command's progress display (README "Operations"): they
 * start at zero of the total, never go back, and end at the total, which matches what was done.
 */
describe('progress reported by migrate, projections rebuild and outbox replay', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let server: RunningServer | null = null;

  beforeAll(async () => {
    testDatabase = await createTestDatabase();
    database = await openDatabase({ databaseUrl: testDatabase.url, dataDir: '', poolMax: 2 });
  });

  afterAll(async () => {
    await server?.stop();
    await database?.close();
    await testDatabase?.drop();
  });

  function expectCounting(reports: Report[], total: number): void {
    expect(reports[0]).toEqual([0, total]);
    expect(reports.at(-1)).toEqual([total, total]);
    for (let i = 1; i < reports.length; i++) expect(reports[i]![0]).toBeGreaterThanOrEqual(reports[i - 1]![0]);
  }

  it('migrate: one step per migration, of the pending ones', async () => {
    const reports: Report[] = [];
    const applied = await database.migrate((done, total) => reports.push([done, total]));
    expect(applied).toHaveLength(MIGRATIONS.length);
    expectCounting(reports, MIGRATIONS.length);
    // Each migration is seen as it starts: every step from 0 to the last is reported.
    expect(reports.map(([done]) => done)).toEqual([0, ...MIGRATIONS.map((_, i) => i), MIGRATIONS.length]);
    const again: Report[] = [];
    expect(await database.migrate((done, total) => again.push([done, total]))).toEqual([]);
    expect(again).toEqual([[0, 0], [0, 0]]);
  });

  describe('with events written', () => {
    const POSTS = 45;

    beforeAll(async () => {
      server = await startTestServer(testDatabase.url, { MIGRATE_ON_START: 'false' });
      const alice = await tokenFor('alice');
      const chat = await ok(server.url, alice, 'mutation { createChat(input: { name: "progress", participantIds: ["bob"] }) { id } }');
      for (let i = 0; i < POSTS; i++) {
        await ok(server.url, alice, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }', { c: chat.createChat.id, t: `m${i}` });
      }
      // Replay takes only rows the relay has published: wait until it has.
      await server.realtime.whenCaughtUp();
    });

    const count = (table: 'events' | 'outbox') =>
      withClient(testDatabase.url, async (client) => Number((await client.query(`select count(*) as n from ${table}`)).rows[0].n));

    it('projections rebuild: events replayed, of the events in the store', async () => {
      const reports: Report[] = [];
      const replayed = await rebuildReadModels(database.orm, (done, total) => reports.push([done, total]));
      const events = await count('events');
      expect(replayed).toBe(events);
      expect(events).toBeGreaterThan(POSTS);
      expectCounting(reports, events);
    });

    it('outbox replay: rows published, page by page, of the rows in the range', async () => {
      const reports: Report[] = [];
      const transport = new InProcessTransport(() => undefined);
      const published = await replayOutbox(database.orm, transport, { from: { time: new Date(0) } }, { batchSize: 10, onProgress: (done, total) => reports.push([done, total]) });
      const rows = await count('outbox');
      expect(published).toBe(rows);
      expectCounting(reports, rows);
      // A report per page of 10.
      expect(reports.length).toBe(1 + Math.ceil(rows / 10));
    });
  });
});
