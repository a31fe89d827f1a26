import { randomUUID } from 'node:crypto';
import { OutboxReader } from '../../src/infrastructure/relay/outbox-reader';
import { openDatabase, type Database } from '../../src/infrastructure/persistence/database';
import { PostgresChatReadModel } from '../../src/infrastructure/persistence/postgres-chat-read-model.adapter';
import { eventually } from '../support/eventually';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';

/**
 * Group commit writes many events and outbox rows in one transaction, so the order within a
 * transaction is the order of their positions: 10 after 9. Queries that ordered by columns they had
 * turned into text sorted "10" before "9" (and, for transaction ids, 999 after 1000): the relay's pages
 * then handed row 10 on first, a receiver dropped 9 as already seen and a subscriber never got it
 * (found by the cluster's 200 concurrent posts), and `head` or a receiver's start was not the newest.
 */
describe('order within one transaction, positions crossing a power of ten', () => {
  let database: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.url, dataDir: '/tmp/unused', poolMax: 2 });
    await db.migrate();
  });

  afterAll(async () => {
    await db.close();
    await database.drop();
  });

  it('pages, starts receivers at and answers head with rows 8..12 of one transaction in order', async () => {
    // Given one transaction that writes events and outbox rows whose positions cross a power of ten
    const tx = await withClient(database.url, async (client) => {
      await client.query(`select setval(pg_get_serial_sequence('outbox', 'id'), 7)`);
      await client.query(`select setval(pg_get_serial_sequence('events', 'position'), 7)`);
      await client.query('begin');
      const chatId = randomUUID();
      for (let version = 1; version <= 5; version++) {
        await client.query(
          `with e as (insert into events (event_id, stream_id, version, type, data, occurred_at)
                      values ($1, $2, $3, 'ChatRenamed', '{}', now()) returning position)
           insert into outbox (event_position, chat_id, payload) select position, $2, '[]'::jsonb from e`,
          [randomUUID(), chatId, version],
        );
      }
      const { rows } = await client.query('select pg_current_xact_id()::text as tx');
      await client.query('commit');
      return rows[0].tx as string;
    });
    const reader = new OutboxReader(db.orm);

    // Then the relay reads them in position order (once every older transaction on the server has ended)
    await eventually(async () => expect((await reader.page('0.0')).records.map((record) => record.position)).toEqual(
      ['8', '9', '10', '11', '12'].map((id) => `${tx}.${id}`),
    ));
    // And a receiver starting now starts after the last, and head is the last event
    expect(await reader.head()).toBe(`${tx}.12`);
    expect(await new PostgresChatReadModel(db.orm).head()).toBe(`${tx}.12`);
  });
});
