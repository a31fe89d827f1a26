import { openDatabase } from '../../src/infrastructure/persistence/database';
import { RelayLeadership } from '../../src/infrastructure/relay/relay-leadership';
import { eventually } from '../support/eventually';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/**
 * The relay leadership's own PostgreSQL session, behind a link that is silent when it connects: the
 * connect must give up and be tried again, or the relay would never lead once the link heals.
 */
describe('relay leadership behind a silent PostgreSQL link', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let leadership: RelayLeadership | null = null;

  beforeAll(async () => {
    database = await createTestDatabase();
    const db = await openDatabase({ databaseUrl: database.url, dataDir: '', poolMax: 2 });
    await db.migrate();
    await db.close();
    proxy = await TcpProxy.inFrontOf(database.url);
  });

  afterAll(async () => {
    await leadership?.stop();
    await proxy.stop();
    await database.drop();
  });

  it('gives up a connect that gets no answer, and leads every partition once the link heals', async () => {
    const errors: string[] = [];
    let gained = 0;
    proxy.blackhole();
    leadership = new RelayLeadership({
      databaseUrl: proxy.url(database.url),
      partitions: 2,
      retryIntervalMs: 200,
      onGained: () => gained++,
      onError: (error) => errors.push((error as Error).message),
    });

    leadership.start();

    await eventually(() => expect(errors.some((message) => /timeout/i.test(message))).toBe(true), 15_000);
    expect(gained).toBe(0);
    proxy.heal();
    await eventually(() => expect(leadership!.partitions).toEqual([0, 1]), 15_000);
  });
});
