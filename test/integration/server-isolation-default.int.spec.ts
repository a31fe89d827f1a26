import type { RunningServer } from '../../src/interfaces/composition/server';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const POST = `mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { seq } }`;

/**
 * The append lock's write transactions read, after waiting for the lock, what the batch before them
 * committed. That needs read committed: under a server default of serializable (or repeatable read)
 * the snapshot would be taken by the lock's own statement, before the wait, and every batch that
 * waited would decide on stale state and conflict. Write transactions therefore say their isolation.
 */
async function retries(server: RunningServer): Promise<number> {
  const text = await (await fetch(server.url.replace('/graphql', '/metrics'))).text();
  return Number(/^parley_write_retries_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

describe('writers on a database whose default isolation is serializable', () => {
  let database: TestDatabase;
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // Given every new session of this database starts serializable
    const name = new URL(database.url).pathname.slice(1);
    await withClient(database.url, (client) => client.query(`alter database "${name}" set default_transaction_isolation = 'serializable'`));
    servers.push(await startTestServer(database.url));
    servers.push(await startTestServer(database.url, { MIGRATE_ON_START: 'false' }));
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
  });

  it('commits 2 senders × 100 concurrent posts to one chat with seq 1..200, no error and no retry', async () => {
    const alice = await tokenFor('alice');
    const chatId = (await ok(servers[0]!.url, alice, 'mutation { createChat(input: { name: "s", participantIds: ["bob"] }) { id } }')).createChat.id;

    // When both senders take 100 posts at once
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => ok(servers[i % 2]!.url, alice, POST, { chatId, content: `p${i}` })),
    );

    // Then every post was answered, with the seqs 1..200 once each, and no batch had to run again
    expect(answers.map((answer) => answer.createMessage.seq).sort((a: number, b: number) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    for (const server of servers) expect(await retries(server)).toBe(0);
  });
});
