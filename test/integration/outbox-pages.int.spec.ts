import type { RunningServer } from '../../src/interfaces/composition/server';
import { PostgresEventHistory } from '../../src/infrastructure/persistence/postgres-event-history.adapter';
import { OUTBOX_PAGE } from '../../src/infrastructure/persistence/outbox-page';
import { OutboxReader } from '../../src/infrastructure/relay/outbox-reader';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const POSTS = 160;
/** Nearly 4,000 characters of two bytes each: 8 KB of content per message. */
const CONTENT = 'é'.repeat(3990);
const PARTICIPANTS = Array.from({ length: 200 }, (_, i) => `user-${i}`);

/**
 * Issue 7, defect 3: sizes counted in bytes. An outbox row holds a post's content once, not once per
 * channel, and every page read from the outbox (relay, gap fill, replay, resume) is bounded in bytes
 * as well as rows.
 */
describe('outbox rows and pages, in bytes', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let chatId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    // 161 writes as fast as the server takes them: not a test of the rate limit.
    server = await startTestServer(database.url, { HTTP_OPERATIONS_PER_SECOND: '100000' });
    const alice = await tokenFor('alice');
    chatId = (await ok(server.url, alice, 'mutation($p: [ID!]!) { createChat(input: { name: "big", participantIds: $p }) { id } }', { p: PARTICIPANTS }))
      .createChat.id;
    const post = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }';
    for (let i = 0; i < POSTS; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => ok(server.url, alice, post, { c: chatId, t: `${i + j} ${CONTENT}` })));
    }
  }, 120_000);

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  it('stores a post’s content and its recipients once, though three channels carry them', async () => {
    const { rows } = await withClient(database.url, (client) =>
      client.query<{ bytes: number }>(
        `select octet_length(o.payload::text) as bytes from outbox o join events e on e.position = o.event_position
         where e.type = 'MessagePosted' limit 1`,
      ),
    );
    const contentBytes = Buffer.byteLength(CONTENT);
    const recipientBytes = Buffer.byteLength(JSON.stringify(PARTICIPANTS));
    expect(rows[0]!.bytes).toBeLessThan(contentBytes + recipientBytes + 2000);
  });

  // Rows are read once every transaction before them has ended, anywhere on the server: hence eventually.
  it('reads the relay’s pages within a byte bound, complete and in order', async () => {
    await eventually(async () => expect(await relayPages()).toHaveLength(POSTS + 1));
  });

  async function relayPages(): Promise<string[]> {
    const reader = new OutboxReader(server.database.orm);
    const positions: string[] = [];
    let after = '0.0';
    for (;;) {
      const page = await reader.page(after);
      const bytes = page.records.reduce((sum, record) => sum + Buffer.byteLength(JSON.stringify(record.messages)), 0);
      if (page.more) expect(page.records.length).toBeLessThan(OUTBOX_PAGE.rows);
      // What a page holds stays near the bound, expanded to three channel messages per post.
      expect(bytes).toBeLessThan(3 * OUTBOX_PAGE.bytes + 3 * 20_000);
      // The projection's own unread-count rows come and go with its batches; the event rows are fixed.
      const domainRows = page.records.filter((record) => record.messages.some((message) => message.channel !== 'unreadCountUpdated'));
      positions.push(...domainRows.map((record) => record.position));
      if (!page.more) break;
      after = page.records[page.records.length - 1]!.position;
    }
    expect(new Set(positions).size).toBe(positions.length);
    return positions;
  }

  it('links each row the relay reads to its chat’s row before, within a page and across pages cut by bytes', async () => {
    await server.realtime.whenCaughtUp();
    const { rows } = await withClient(database.url, (client) =>
      client.query<{ position: string; previous: string }>(
        `select tx_id::text || '.' || id::text as position,
                coalesce(lag(tx_id::text || '.' || id::text) over (partition by chat_id order by tx_id, id), '0.0') as previous
         from outbox order by tx_id, id`,
      ),
    );
    const expected = new Map(rows.map((row) => [row.position, row.previous]));
    const reader = new OutboxReader(server.database.orm);
    const links = new Map<string, string>();
    let pages = 0;
    for (let after = '0.0'; ; ) {
      const page = await reader.page(after, { partitions: await partitions() });
      pages++;
      for (const record of page.records) links.set(record.position, record.previous);
      if (!page.more) break;
      after = page.records[page.records.length - 1]!.position;
    }
    expect(pages).toBeGreaterThan(1);
    expect(links).toEqual(expected);
  });

  const partitions = () =>
    withClient(database.url, async (client) => (await client.query<{ partition: number }>('select distinct partition from outbox')).rows.map((row) => row.partition));

  it('reads a resume’s history within a byte bound, complete and in order', async () => {
    await eventually(async () => expect(await historyPages()).toHaveLength(POSTS));
  });

  async function historyPages(): Promise<number[]> {
    const history = new PostgresEventHistory(server.database.orm);
    const seqs: number[] = [];
    let after = '0.0';
    let pages = 0;
    for (;;) {
      const page = await history.inChat(chatId, after);
      pages++;
      for (const record of page.records) {
        for (const message of record.messages) if (message.channel === 'messageAdded') seqs.push(message.meta.seq!);
      }
      if (!page.more) break;
      after = page.records[page.records.length - 1]!.cursor;
    }
    expect(pages).toBeGreaterThan(1);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    return seqs;
  }
});
