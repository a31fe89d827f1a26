import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { decide, type ChatCommand, type PostMessage } from '../../src/domain';
import { TAKE_APPEND_LOCK } from '../../src/infrastructure/persistence/commit-order';
import { PostgresChatUnitOfWork } from '../../src/infrastructure/persistence/postgres-chat-unit-of-work.adapter';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { eventually } from '../support/eventually';
import { graphql, ok } from '../support/graphql-http';
import { TcpProxy } from '../support/tcp-proxy';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const CREATE_CHAT = `mutation($ids: [ID!]!) { createChat(input: { name: "deadlines", participantIds: $ids }) { id } }`;
const POST = `mutation($chatId: ID!, $content: String!, $clientMessageId: String) {
  createMessage(createMessageInput: { chatId: $chatId, content: $content, clientMessageId: $clientMessageId }) { id seq } }`;

const DEADLINE_MS = 1500;
/** Far beyond what an answer within the deadline takes (its settling included), far below the old hang (until the link heals). */
const ANSWERED_WITHIN_MS = 12_000;

/** The last statement of a write batch (`…;\ncommit`) as node-postgres sends it: a simple query, NUL-terminated. */
const isCommit = (chunk: Buffer) => chunk.toString('latin1').endsWith('commit\u0000');

/**
 * The write path behind a PostgreSQL link that goes silent (a dropped route, a frozen NAT) or resets,
 * through a TCP proxy between the server's pool and PostgreSQL. The test's own connections go direct.
 */
describe('writes behind a silent or lost PostgreSQL connection', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;

  beforeAll(async () => {
    database = await createTestDatabase();
    proxy = await TcpProxy.inFrontOf(database.url);
  });

  afterAll(async () => {
    await proxy.stop();
    await database.drop();
  });

  const storedPosts = (clientMessageId: string) =>
    withClient(database.url, async (client) => (await client.query('select id, seq from messages where client_message_id = $1', [clientMessageId])).rows);

  const sessionsLost = async (server: RunningServer, outcome: string) => {
    const metric = await server.metrics.registry.getSingleMetric('parley_write_sessions_lost_total')!.get();
    return metric.values.find((value) => value.labels.outcome === outcome)?.value ?? 0;
  };

  describe(`with a statement deadline of ${DEADLINE_MS} ms`, () => {
    let server: RunningServer;
    let alice: string;
    let chatId: string;

    beforeAll(async () => {
      server = await startTestServer(proxy.url(database.url), {
        DATABASE_STATEMENT_TIMEOUT_MS: String(DEADLINE_MS),
        DATABASE_CONNECT_TIMEOUT_MS: '1000',
      });
      alice = await tokenFor('alice');
      chatId = (await ok(server.url, alice, CREATE_CHAT, { ids: ['bob'] })).createChat.id;
    });

    afterEach(() => proxy.heal());

    afterAll(() => server.stop());

    const post = (content: string, clientMessageId: string) => graphql(server.url, alice, POST, { chatId, content, clientMessageId });

    it('given a batch whose connection goes silent while it waits for the append lock, answers it within the deadline from a fresh connection, once', async () => {
      const lock = await holdAppendLock(database.url);
      const started = Date.now();
      const posting = post('through the silence', 'silent-while-waiting');
      await lock.untilSomeoneWaits();

      // When the connection carrying it goes silent (others still reach PostgreSQL) and the lock is freed
      proxy.blackhole({ newConnections: 'forward' });
      await lock.release();

      // Then the post is answered, well before the link heals, and stored once
      const response = await posting;
      expect(response.errors).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(ANSWERED_WITHIN_MS);
      expect(await storedPosts('silent-while-waiting')).toEqual([{ id: response.data!.createMessage.id, seq: response.data!.createMessage.seq }]);
      expect(await sessionsLost(server, 'not committed')).toBeGreaterThanOrEqual(1);
    });

    it('given a COMMIT that reached PostgreSQL but whose answer did not come back, answers the post from what was committed', async () => {
      const committedBefore = await sessionsLost(server, 'committed');
      const silenced = proxy.blackholeWhen(isCommit, 'after', { newConnections: 'forward' });
      const started = Date.now();

      const response = await post('committed in the dark', 'dark-commit');

      await silenced;
      expect(response.errors).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(ANSWERED_WITHIN_MS);
      expect(await storedPosts('dark-commit')).toEqual([{ id: response.data!.createMessage.id, seq: response.data!.createMessage.seq }]);
      expect(await sessionsLost(server, 'committed')).toBe(committedBefore + 1);
    });

    it('given a COMMIT held on its way to PostgreSQL, ends that session and writes the batch again, once', async () => {
      const silenced = proxy.blackholeWhen(isCommit, 'before', { newConnections: 'forward' });

      const response = await post('commit never arrived', 'held-commit');

      await silenced;
      expect(response.errors).toBeUndefined();
      expect(await storedPosts('held-commit')).toEqual([{ id: response.data!.createMessage.id, seq: response.data!.createMessage.seq }]);
    });

    it('given PostgreSQL out of reach after a COMMIT was sent, answers UNAVAILABLE (HTTP 503) saying the outcome is unknown; a retry settles it', async () => {
      const silenced = proxy.blackholeWhen(isCommit, 'after');
      const started = Date.now();

      const response = await post('maybe committed', 'unknown-outcome');

      await silenced;
      expect(Date.now() - started).toBeLessThan(ANSWERED_WITHIN_MS);
      expect(response.status).toBe(503);
      expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', outcomeUnknown: true });

      // When the link heals and the client retries with its clientMessageId, the message is there once
      proxy.heal();
      const retried = await eventually(async () => {
        const again = await post('maybe committed', 'unknown-outcome');
        expect(again.errors).toBeUndefined();
        return again.data!.createMessage;
      });
      expect(await storedPosts('unknown-outcome')).toEqual([{ id: retried.id, seq: retried.seq }]);
    });

    it('given PostgreSQL out of reach before anything is sent, answers UNAVAILABLE within the deadline and writes nothing', async () => {
      proxy.blackhole();
      const started = Date.now();

      const response = await post('never written', 'not-written');

      expect(Date.now() - started).toBeLessThan(ANSWERED_WITHIN_MS);
      expect(response.status).toBe(503);
      expect(response.errors?.[0]?.extensions?.code).toBe('UNAVAILABLE');
      expect(response.errors?.[0]?.extensions?.outcomeUnknown).toBeUndefined();
      proxy.heal();
      await eventually(async () => expect((await graphql(server.url, alice, '{ head }')).errors).toBeUndefined());
      expect(await storedPosts('not-written')).toEqual([]);
    });

    it('given a full queue, answers one more write UNAVAILABLE at once, and writes nothing of it', async () => {
      const writes = new PostgresChatUnitOfWork(server.database, { maxQueued: 2 });
      const run = (command: ChatCommand) => writes.execute(command, (state) => decide(command, state));
      const lock = await holdAppendLock(database.url);
      const inFlight = run(aPost('alice', chatId, 'queue-0'));
      await lock.untilSomeoneWaits();

      // When four more arrive while one batch is in flight: two fit in the queue
      const queued = [run(aPost('alice', chatId, 'queue-1')), run(aPost('alice', chatId, 'queue-2'))];
      const refused = [run(aPost('alice', chatId, 'queue-3')), run(aPost('alice', chatId, 'queue-4'))];

      // Then the two past the bound are refused while the lock is still held, the rest commit once it is freed
      for (const attempt of refused) await expect(attempt).rejects.toMatchObject({ code: 'UNAVAILABLE', outcomeUnknown: false });
      await lock.release();
      await Promise.all([inFlight, ...queued]);
      for (const id of ['queue-0', 'queue-1', 'queue-2']) expect(await storedPosts(id)).toHaveLength(1);
      for (const id of ['queue-3', 'queue-4']) expect(await storedPosts(id)).toEqual([]);
    });
    it('given a batch in flight past the deadline, answers a command waiting behind it at its own deadline, with nothing written', async () => {
      const writes = new PostgresChatUnitOfWork(server.database, { deadlineMs: 1000 });
      const run = (command: ChatCommand) => writes.execute(command, (state) => decide(command, state));
      const lock = await holdAppendLock(database.url);
      let inFlightAnswered = false;
      const inFlight = run(aPost('alice', chatId, 'behind-the-lock')).then(
        () => (inFlightAnswered = true),
        () => (inFlightAnswered = true),
      );
      await lock.untilSomeoneWaits();

      // When another command queues behind the batch that waits for the lock
      const waiting = run(aPost('alice', chatId, 'waits-its-deadline'));

      // Then it is answered while that batch still waits, and never written
      await expect(waiting).rejects.toMatchObject({ code: 'UNAVAILABLE', outcomeUnknown: false });
      expect(inFlightAnswered).toBe(false);
      expect(await lock.stillHeld()).toBe(true);
      await lock.release();
      await inFlight;
      expect(await storedPosts('waits-its-deadline')).toEqual([]);
    });
  });

  describe('with deadlines longer than the test', () => {
    let server: RunningServer;
    let alice: string;
    let chatId: string;

    beforeAll(async () => {
      server = await startTestServer(proxy.url(database.url), { DATABASE_STATEMENT_TIMEOUT_MS: '60000' });
      alice = await tokenFor('alice');
      chatId = (await ok(server.url, alice, CREATE_CHAT, { ids: ['bob'] })).createChat.id;
    });

    afterEach(() => proxy.heal());

    afterAll(() => server.stop());

    it('given a session that ends after its COMMIT, before the answer, answers the post from what was committed instead of failing it', async () => {
      const silenced = proxy.blackholeWhen(isCommit, 'after', { newConnections: 'forward' });
      const posting = graphql(server.url, alice, POST, { chatId, content: 'committed, then reset', clientMessageId: 'reset-after-commit' });
      await silenced;
      await eventually(async () => expect(await storedPosts('reset-after-commit')).toHaveLength(1));

      // When the connection is reset before the commit's answer gets through
      proxy.reset();

      // Then the client hears of the message it posted, stored once
      const response = await posting;
      expect(response.errors).toBeUndefined();
      expect(await storedPosts('reset-after-commit')).toEqual([{ id: response.data!.createMessage.id, seq: response.data!.createMessage.seq }]);
    });

    it('answers a committed batch even when the batch listener throws, without writing it again', async () => {
      const writes = new PostgresChatUnitOfWork(server.database, {
        onBatch: () => {
          throw new Error('a listener that fails');
        },
      });
      const command = aPost('alice', chatId, 'listener-throws');

      const outcome = await writes.execute(command, (state) => decide(command, state));

      expect(outcome.recorded).toHaveLength(1);
      expect(await storedPosts('listener-throws')).toHaveLength(1);
    });
  });
});

function aPost(userId: string, chatId: string, clientMessageId: string): PostMessage {
  return { type: 'PostMessage', chatId, userId, messageId: randomUUID(), content: clientMessageId, clientMessageId, at: new Date().toISOString() };
}

/** The append lock, held by a transaction of the test's own: the next write batch waits for it. */
async function holdAppendLock(url: string): Promise<{ untilSomeoneWaits(): Promise<void>; stillHeld(): Promise<boolean>; release(): Promise<void> }> {
  const locker = new Client({ connectionString: url });
  await locker.connect();
  await locker.query('begin');
  await locker.query(TAKE_APPEND_LOCK);
  return {
    untilSomeoneWaits: () =>
      eventually(async () => {
        const { rows } = await locker.query(
          `select count(*)::int as waiting from pg_locks
           where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`,
        );
        expect(rows[0].waiting).toBeGreaterThan(0);
      }),
    async stillHeld() {
      const { rows } = await locker.query(`select count(*)::int as held from pg_locks where locktype = 'advisory' and granted and pid = pg_backend_pid()`);
      return rows[0].held > 0;
    },
    async release() {
      await locker.query('commit');
      await locker.end();
    },
  };
}
