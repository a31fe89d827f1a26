import { randomBytes } from 'node:crypto';
import { eventually } from '../support/eventually';
import { graphql, ok } from '../support/graphql-http';
import { ParleyProcess } from '../support/parley-process';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { TEST_JWT_SECRET, tokenFor } from '../support/test-server';

const STARTED = /Parley GraphQL: (http:\/\/\S+) \(roles: /;
const POST = `mutation($c: ID!, $t: String!, $k: String) {
  createMessage(createMessageInput: { chatId: $c, content: $t, clientMessageId: $k }) { id seq content }
}`;
const POSTERS = 12;
const POSTS_EACH = 40;

/**
 * Group commit answers nothing before its transaction commits (DESIGN.md §2). So a sender killed
 * with SIGKILL while batches are in flight has lost no post it answered; what it did not answer may
 * or may not have been written, and a client's retry with the same clientMessageId settles it:
 * afterwards every post exists exactly once, with seq 1..n and no gap.
 */
describe('a sender killed in the middle of write batches', () => {
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;
  const senders: ParleyProcess[] = [];

  async function startSender(): Promise<string> {
    const sender = ParleyProcess.start(['serve', '--role', 'sender', '--port', '0'], env, 'bin');
    senders.push(sender);
    const [, url] = await sender.waitFor(STARTED);
    await eventually(async () => expect((await fetch(url!.replace('/graphql', '/readyz'))).status).toBe(200), 20_000);
    return url!;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: process.env.TEST_REDIS_URL,
      REDIS_CHANNEL_PREFIX: `killed-${randomBytes(3).toString('hex')}:`,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      HTTP_OPERATIONS_PER_SECOND: '100000',
    };
  });

  afterAll(async () => {
    await Promise.all(senders.map((sender) => sender.stop('SIGKILL')));
    await database.drop();
  });

  it('loses no answered post, and retries with the same clientMessageId leave each post once', async () => {
    const alice = await tokenFor('alice');
    const first = await startSender();
    const { createChat } = await ok(first, alice, 'mutation { createChat(input: { name: "killed", participantIds: ["bob"] }) { id } }');
    const content = (poster: number, n: number) => `p${poster}-${n}`;

    // When posters post back to back, and the sender is killed once some have been answered
    const answered = new Map<string, { id: string; seq: number }>();
    let killed = false;
    const posters = Array.from({ length: POSTERS }, async (_, poster) => {
      for (let n = 0; n < POSTS_EACH && !killed; n++) {
        const text = content(poster, n);
        const response = await graphql(first, alice, POST, { c: createChat.id, t: text, k: text }).catch(() => null);
        if (response?.data?.createMessage) answered.set(text, response.data.createMessage);
      }
    });
    await eventually(() => expect(answered.size).toBeGreaterThanOrEqual(60), 30_000);
    killed = true;
    await senders[0]!.stop('SIGKILL');
    await Promise.all(posters);

    // Then every answered post is stored as answered, and nothing is stored twice
    const stored = await withClient(database.url, async (client) =>
      (await client.query<{ id: string; seq: number; content: string }>('select id, seq, content from messages where chat_id = $1 order by seq', [createChat.id])).rows,
    );
    const byContent = new Map(stored.map((row) => [row.content, row]));
    expect(byContent.size).toBe(stored.length);
    for (const [text, message] of answered) expect(byContent.get(text)).toMatchObject({ id: message.id, seq: message.seq });
    expect(stored.map((row) => row.seq)).toEqual(stored.map((_, i) => i + 1));

    // And when the clients retry what was not answered, through a new sender, with the same clientMessageId
    const second = await startSender();
    const unanswered = Array.from({ length: POSTERS }, (_, poster) => Array.from({ length: POSTS_EACH }, (__, n) => content(poster, n)))
      .flat()
      .filter((text) => !answered.has(text))
      .slice(0, 120);
    const retried = await Promise.all(unanswered.map((text) => ok(second, alice, POST, { c: createChat.id, t: text, k: text })));

    // Then each post exists exactly once: a retry of a post written before the kill answers that very message
    const after = await withClient(database.url, async (client) =>
      (await client.query<{ id: string; seq: number; content: string }>('select id, seq, content from messages where chat_id = $1 order by seq', [createChat.id])).rows,
    );
    expect(new Set(after.map((row) => row.content)).size).toBe(after.length);
    expect(after.map((row) => row.seq)).toEqual(after.map((_, i) => i + 1));
    for (const { createMessage } of retried) expect(after.find((row) => row.content === createMessage.content)).toMatchObject({ id: createMessage.id });
    for (const row of stored) expect(after.find((kept) => kept.content === row.content)?.id).toBe(row.id);
  });
});
