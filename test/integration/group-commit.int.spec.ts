import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { ChatCommandOutcome } from '../../src/application';
import { decide, type ChatCommand, type MessagePosted, type PostMessage } from '../../src/domain';
import { TAKE_APPEND_LOCK } from '../../src/infrastructure/persistence/commit-order';
import { PostgresChatUnitOfWork } from '../../src/infrastructure/persistence/postgres-chat-unit-of-work.adapter';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { errorCodes, graphql, ok } from '../support/graphql-http';
import { HUGE_GRAPHEME } from '../support/huge-grapheme';
import { startTestServer, tokenFor } from '../support/test-server';

/**
 * Group commit against the real PostgreSQL: commands queued while a transaction is in flight share
 * the next one. To make a batch deterministic, the first command is held on its chat's lock by a
 * transaction of the test's own; everything submitted meanwhile forms the next batch.
 */
describe('group commit: many commands, one transaction, each its own outcome', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let writes: PostgresChatUnitOfWork;
  let at = Date.parse('2026-12-01T10:00:00Z');

  const now = () => new Date((at += 1000)).toISOString();
  const run = (command: ChatCommand) => writes.execute(command, (state) => decide(command, state));
  const post = (userId: string, chatId: string, content: string, extra: Partial<PostMessage> = {}): PostMessage => ({
    type: 'PostMessage', chatId, userId, messageId: randomUUID(), content, clientMessageId: null, at: now(), ...extra,
  });
  const createChat = async (userId: string, participantIds: string[]) => {
    const chatId = randomUUID();
    await run({ type: 'CreateChat', chatId, userId, name: 'batch', participantIds, at: now() });
    return chatId;
  };
  const txOf = (outcome: ChatCommandOutcome) => outcome.recorded[0]!.cursor.split('.')[0];

  /** Holds the append lock until released, with a batch waiting for it, so that the next commands queue behind it. */
  async function holdingABatch(): Promise<{ release(): Promise<void>; held: Promise<ChatCommandOutcome> }> {
    const blocked = await createChat('holder', []);
    return holdingTheAppendLock(() => run(post('holder', blocked, 'first in line')));
  }

  /**
   * Holds the append lock until released, with `first` in flight and waiting for it. The batch behind
   * can be answered while `release` still closes the locker's connection: a test expects a refusal
   * before it releases, or that rejection would be unhandled when it comes.
   */
  async function holdingTheAppendLock<T>(first: () => Promise<T>): Promise<{ release(): Promise<void>; held: Promise<T> }> {
    const locker = new Client({ connectionString: database.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query(TAKE_APPEND_LOCK);
    const held = first();
    // The held batch is in flight once it waits for that lock.
    await eventually(async () => {
      const { rows } = await locker.query(
        `select count(*)::int as waiting from pg_locks
         where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`,
      );
      expect(rows[0].waiting).toBeGreaterThan(0);
    });
    return {
      held,
      async release() {
        await locker.query('commit');
        await locker.end();
      },
    };
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    writes = new PostgresChatUnitOfWork(server.database);
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  it('answers the command that breaks a rule with its code and commits the others, in one transaction', async () => {
    const withBob = await createChat('alice', ['bob']);
    const withCarol = await createChat('alice', ['carol']);
    const batch = await holdingABatch();

    // When four posts arrive together: an outsider, two good ones in different chats, an empty one
    const outsider = run(post('mallory', withBob, 'let me in'));
    const good = run(post('alice', withBob, 'hello bob'));
    const other = run(post('carol', withCarol, 'hello alice'));
    const empty = run(post('bob', withBob, '   '));
    const refused = [
      expect(outsider).rejects.toMatchObject({ code: 'FORBIDDEN', name: 'NotAParticipant' }),
      expect(empty).rejects.toMatchObject({ code: 'BAD_USER_INPUT', name: 'InvalidContent' }),
    ];
    await batch.release();
    await batch.held;

    // Then the rule breakers get their codes, and the others commit together
    await Promise.all(refused);
    const [first, second] = await Promise.all([good, other]);
    expect((first.recorded[0]!.event as MessagePosted).data).toMatchObject({ seq: 1, content: 'hello bob' });
    expect((second.recorded[0]!.event as MessagePosted).data).toMatchObject({ seq: 1, content: 'hello alice' });
    expect(txOf(first)).toBe(txOf(second));
    await withClient(database.url, async (client) => {
      const { rows } = await client.query('select content from messages where chat_id = $1', [withBob]);
      expect(rows).toEqual([{ content: 'hello bob' }]);
    });
  });

  it('runs each command alone when the database refuses the batch, so only the one at fault fails', async () => {
    const chatId = await createChat('alice', ['bob']);
    const taken = await run(post('alice', chatId, 'original'));
    const takenId = (taken.recorded[0]!.event as MessagePosted).data.messageId;
    const batch = await holdingABatch();

    // When a post reuses an id that exists (the primary key refuses it) beside a good one
    const clash = run(post('bob', chatId, 'same id', { messageId: takenId }));
    const good = run(post('bob', chatId, 'fine'));
    const refused = expect(clash).rejects.toMatchObject({ code: '23505' });
    await batch.release();
    await batch.held;

    // Then the clash fails with the database's refusal and the good post commits
    await refused;
    expect(((await good).recorded[0]!.event as MessagePosted).data).toMatchObject({ seq: 2, content: 'fine' });
  });

  it('turns one clientMessageId sent twice in one batch into one message', async () => {
    const chatId = await createChat('alice', ['bob']);
    const batch = await holdingABatch();

    const first = run(post('alice', chatId, 'tap', { clientMessageId: 'tap-1' }));
    const again = run(post('alice', chatId, 'tap', { clientMessageId: 'tap-1' }));
    await batch.release();
    await batch.held;

    const [made, repeated] = await Promise.all([first, again]);
    expect(made.recorded).toHaveLength(1);
    expect(repeated.recorded).toEqual([]);
    expect(repeated.state.previousPost?.messageId).toBe((made.recorded[0]!.event as MessagePosted).data.messageId);
    await withClient(database.url, async (client) => {
      const { rows } = await client.query('select count(*)::int as n from messages where chat_id = $1', [chatId]);
      expect(rows[0].n).toBe(1);
    });
  });

  it('decides on a message named by id and also found as an earlier post in the same batch, as it is', async () => {
    const chatId = await createChat('alice', ['bob']);
    const sent = await run(post('alice', chatId, 'draft', { clientMessageId: 'tap-2' }));
    const messageId = (sent.recorded[0]!.event as MessagePosted).data.messageId;
    const batch = await holdingABatch();

    // When one batch edits that message, reads it and repeats its clientMessageId (the load finds it twice)
    const edit = run({ type: 'EditMessage', chatId, userId: 'alice', messageId, content: 'final', at: now() });
    const read = run({ type: 'MarkMessageRead', chatId, userId: 'bob', messageId, at: now() });
    const again = run(post('alice', chatId, 'draft', { clientMessageId: 'tap-2' }));
    await batch.release();
    await batch.held;

    // Then each is decided on the one message: edited, read, and the repeat posts nothing
    expect((await edit).recorded.map((record) => record.event.type)).toEqual(['MessageEdited']);
    expect((await read).recorded.map((record) => record.event.type)).toEqual(['MessageRead']);
    const repeated = await again;
    expect(repeated.recorded).toEqual([]);
    expect(repeated.state.previousPost?.messageId).toBe(messageId);
    await withClient(database.url, async (client) => {
      const { rows } = await client.query('select content from messages where chat_id = $1', [chatId]);
      expect(rows).toEqual([{ content: 'final' }]);
    });
  });

  it('keeps each chat in arrival order and its events in version order when a batch spans chats', async () => {
    const chats = [await createChat('alice', ['bob']), await createChat('alice', ['bob']), await createChat('bob', ['alice'])];
    const batch = await holdingABatch();

    const posts = Array.from({ length: 30 }, (_, i) => run(post(i % 2 ? 'alice' : 'bob', chats[i % 3]!, `p${i}`)));
    await batch.release();
    await batch.held;
    const outcomes = await Promise.all(posts);

    expect(new Set(outcomes.map(txOf)).size).toBe(1);
    chats.forEach((_, c) => {
      const mine = outcomes.filter((__, i) => i % 3 === c).map((outcome) => outcome.recorded[0]!);
      expect(mine.map((record) => (record.event as MessagePosted).data.seq)).toEqual(Array.from({ length: 10 }, (__, i) => i + 1));
      const positions = mine.map((record) => BigInt(record.cursor.split('.')[1]!));
      expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions);
    });
    await withClient(database.url, async (client) => {
      const { rows } = await client.query(
        `select c.id, c.last_seq, c.version, (select max(version) from events e where e.stream_id = c.id) as stream_version
         from chats c where c.id = any($1::uuid[])`,
        [chats],
      );
      for (const row of rows) expect(row).toMatchObject({ last_seq: 10, version: row.stream_version });
      // The relay orders by outbox id within the transaction: those ids rise with the events' positions.
      const outbox = await client.query(`select event_position::int as position from outbox where tx_id = $1::xid8 order by id`, [txOf(outcomes[0]!)]);
      const positions = outbox.rows.map((row) => row.position);
      expect(positions).toHaveLength(30);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    });
  });

  it('keeps group commit for the good posts when one post carries a clientMessageId over 512 bytes', async () => {
    let transactions = 0;
    let commands = 0;
    const counted = new PostgresChatUnitOfWork(server.database, {
      onBatch: (size) => {
        transactions++;
        commands += size;
      },
    });
    const runCounted = (command: ChatCommand) => counted.execute(command, (state) => decide(command, state));
    const chatId = await createChat('alice', ['bob']);
    const blocked = await createChat('holder', []);
    const batch = await holdingTheAppendLock(() => runCounted(post('holder', blocked, 'first in line')));

    // When 12 good posts and one whose clientMessageId is a single 12 kB grapheme arrive together
    const good = Array.from({ length: 12 }, (_, i) => runCounted(post(i % 2 ? 'alice' : 'bob', chatId, `good ${i}`, { clientMessageId: `good-${i}` })));
    const bad = runCounted(post('alice', chatId, 'bad', { clientMessageId: HUGE_GRAPHEME }));
    const refused = expect(bad).rejects.toMatchObject({ code: 'BAD_USER_INPUT', name: 'InvalidClientMessageId' });
    await batch.release();
    await batch.held;

    // Then the bad one is refused by its rule, and the 12 good ones commit together: one transaction, not one each
    await refused;
    const outcomes = await Promise.all(good);
    expect(new Set(outcomes.map(txOf)).size).toBe(1);
    expect({ transactions, commands }).toEqual({ transactions: 2, commands: 1 + 13 });
    await withClient(database.url, async (client) => {
      const { rows } = await client.query('select count(*)::int as n from messages where chat_id = $1', [chatId]);
      expect(rows[0].n).toBe(12);
    });
  });

  it('answers a post whose clientMessageId is over 512 bytes while the write path is blocked: no database work', async () => {
    const alice = await tokenFor('alice');
    const POST = `mutation($chatId: ID!, $content: String!, $clientMessageId: String) {
      createMessage(createMessageInput: { chatId: $chatId, content: $content, clientMessageId: $clientMessageId }) { id seq } }`;
    const { createChat: chat } = await ok(server.url, alice, 'mutation { createChat(input: { name: "blocked", participantIds: ["bob"] }) { id } }');
    // Given the server's own write path stuck behind the append lock
    const batch = await holdingTheAppendLock(() => ok(server.url, alice, POST, { chatId: chat.id, content: 'first in line' }));

    // When a post with a 12 kB clientMessageId comes in, it is answered while nothing can be written
    let bad;
    try {
      bad = await Promise.race([
        graphql(server.url, alice, POST, { chatId: chat.id, content: 'bad', clientMessageId: HUGE_GRAPHEME }),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not answered while the write path was blocked')), 10_000).unref()),
      ]);
    } finally {
      await batch.release();
    }
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
    expect((await batch.held).createMessage.seq).toBe(1);
  });
});
