import { randomUUID } from 'node:crypto';
import { TAKE_APPEND_LOCK } from '../../src/infrastructure/persistence/commit-order';
import { openDatabase, type Database } from '../../src/infrastructure/persistence/database';
import { readOutboxStatus } from '../../src/infrastructure/relay/partition-status';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';

/**
 * `parley status`'s outbox line on the real outbox: counted while small, the planner's estimate once
 * large (so that the command stays quick on an outbox of tens of millions of rows), and the oldest row.
 */
describe('the outbox as parley status shows it', () => {
  let database: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.url, dataDir: '', poolMax: 2 });
    await db.migrate();
  });

  afterAll(async () => {
    await db.close();
    await database.drop();
  });

  /** Rows in their own transactions, the first written `hoursAgo` hours back. */
  async function write(rows: number, hoursAgo: number): Promise<void> {
    await withClient(database.url, async (c) => {
      for (let i = 0; i < rows; i++) {
        await c.query(`begin; ${TAKE_APPEND_LOCK}`);
        await c.query(`insert into outbox (payload, chat_id, partition, created_at) values ('[]'::jsonb, $1, 0, now() - make_interval(hours => $2))`, [randomUUID(), i === 0 ? hoursAgo : 0]);
        await c.query('commit');
      }
    });
  }

  it('counts a small outbox, estimates a large one, and names its oldest row', async () => {
    expect(await readOutboxStatus(db.orm)).toEqual({ rows: 0, estimated: false, oldestAt: null, oldestAgeSeconds: null });

    await write(25, 3);
    const oldest = await withClient(database.url, async (c) => (await c.query<{ at: Date }>('select min(created_at) as at from outbox')).rows[0]!.at);
    const counted = await readOutboxStatus(db.orm);
    expect(counted).toMatchObject({ rows: 25, estimated: false, oldestAt: oldest.toISOString() });
    expect(counted.oldestAgeSeconds).toBeGreaterThanOrEqual(3 * 3600);

    // Over the bound, the planner's figure (exact here, just analysed) and no count.
    await withClient(database.url, (c) => c.query('analyze outbox'));
    const statements: string[] = [];
    const execute = db.orm.em.getConnection().execute.bind(db.orm.em.getConnection());
    jest.spyOn(db.orm.em.getConnection().constructor.prototype, 'execute').mockImplementation(function (this: unknown, query: unknown, ...rest: unknown[]) {
      statements.push(String(query));
      return (execute as (...args: unknown[]) => unknown)(query, ...rest);
    });
    const estimated = await readOutboxStatus(db.orm, { exactBelow: 10 });
    jest.restoreAllMocks();
    expect(estimated).toMatchObject({ rows: 25, estimated: true, oldestAt: oldest.toISOString() });
    expect(statements).toHaveLength(1);
    expect(statements[0]).not.toMatch(/count\(\*\)/);
  });
});
