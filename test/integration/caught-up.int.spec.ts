import type { EntityManager } from '@mikro-orm/postgresql';
import type { StoredChatEvent } from '../../src/infrastructure/projections/projection';
import { UnreadCountsProjection } from '../../src/infrastructure/projections/unread-counts.projection';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { unreadCountsFromEvents, unreadCountsFromProjection } from '../support/ground-truth';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const CHAT = '00000000-0000-4000-8000-0000000000c1';
const AT = '2026-12-01T00:00:00.000Z';

/** Progress that tests wait on (issue 7): the relay, the projection and the feed each say when they have caught up. */
describe('waiting on progress instead of polling', () => {
  let database: TestDatabase;
  let server: RunningServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  it('has counts equal to the ground truth and every record delivered once whenCaughtUp() resolves', async () => {
    // Given some activity
    const [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);
    const { createChat: chat } = await ok(server.url, alice, 'mutation { createChat(input: { name: "c", participantIds: ["bob"] }) { id } }');
    const post = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id } }';
    for (let i = 0; i < 20; i++) await ok(server.url, i % 3 ? alice : bob, post, { c: chat.id, t: `m${i}` });

    // When the instance has caught up
    await server.realtime.whenCaughtUp();

    // Then, with no retry, the projection equals the ground truth and the feed is at the outbox's head
    const { truth, projected, head } = await withClient(database.url, async (client) => ({
      truth: await unreadCountsFromEvents(client),
      projected: await unreadCountsFromProjection(client),
      head: (await client.query<{ head: string }>(`select tx_id::text || '.' || id::text as head from outbox order by tx_id desc, id desc limit 1`)).rows[0]!.head,
    }));
    expect(projected).toEqual(truth);
    expect(server.realtime.feed!.position).toBe(head);
  });

  it('fails with a message naming the reader when it cannot catch up', async () => {
    await server.realtime.relay!.stop();
    try {
      await ok(server.url, await tokenFor('alice'), 'mutation { createChat(input: { name: "stuck", participantIds: [] }) { id } }');
      await expect(server.realtime.relay!.whenCaughtUp(200)).rejects.toThrow(/outbox relay .* did not reach/);
    } finally {
      server.realtime.relay!.start();
    }
  });

  describe('the unread-counts projection at adapter depth, in a transaction rolled back afterwards', () => {
    const projection = new UnreadCountsProjection();
    const stored = (version: number, event: StoredChatEvent['event']): StoredChatEvent => ({ chatId: CHAT, version, cursor: `9.${version}`, occurredAt: AT, event });
    const posted = (version: number, seq: number, senderId: string) =>
      stored(version, { type: 'MessagePosted', data: { chatId: CHAT, messageId: `00000000-0000-4000-8000-00000000000${seq}`, senderId, content: 'x', seq, clientMessageId: null, postedAt: AT } });

    async function rolledBack(work: (em: EntityManager) => Promise<void>): Promise<void> {
      const rollback = new Error('roll back');
      await expect(server.database.orm.em.fork().transactional(async (em) => {
        await work(em);
        throw rollback;
      })).rejects.toBe(rollback);
    }

    it('given a chat, posts and a read, holds those counts and announces each changed count once', async () => {
      await rolledBack(async (em) => {
        // Given: a chat of alice, bob and carol; alice posts twice; bob reads the first
        await projection.apply(em, [
          stored(1, { type: 'ChatCreated', data: { chatId: CHAT, name: 'n', participantIds: ['alice', 'bob', 'carol'], createdBy: 'alice', createdAt: AT } }),
          posted(2, 1, 'alice'),
          posted(3, 2, 'alice'),
        ]);
        // The read counts what stands above the mark as of its version: the messages it sees must exist.
        await em.execute(`insert into chats (id, name, created_by, created_at, updated_at, cursor) values (?, 'n', 'alice', ?, ?, '9.1')`, [CHAT, AT, AT]);
        for (const seq of [1, 2]) {
          await em.execute(
            `insert into messages (id, chat_id, seq, sender_id, content, created_at, cursor, version) values (?, ?, ?, 'alice', 'x', ?, ?, ?)`,
            [`00000000-0000-4000-8000-00000000000${seq}`, CHAT, seq, AT, `9.${seq + 1}`, seq + 1],
          );
        }
        await projection.apply(em, [stored(4, { type: 'MessageRead', data: { chatId: CHAT, messageId: '00000000-0000-4000-8000-000000000001', userId: 'bob', seq: 1, readAt: AT } })]);

        // Then: the rows hold the counts, and the outbox the last value of each count per batch
        const rows = await em.execute<{ user_id: string; unread_count: number }[]>('select user_id, unread_count from unread_counts where chat_id = ? order by user_id', [CHAT]);
        expect(rows).toEqual([
          { user_id: 'alice', unread_count: 0 },
          { user_id: 'bob', unread_count: 1 },
          { user_id: 'carol', unread_count: 2 },
        ]);
        const announced = await em.execute<{ payload: { payload: { userId: string; unreadCount: number } }[] }[]>(
          'select payload from outbox where chat_id = ? and event_position is null order by id',
          [CHAT],
        );
        expect(announced.map((row) => row.payload.map((message) => [message.payload.userId, message.payload.unreadCount]))).toEqual([
          [['alice', 0], ['bob', 2], ['carol', 2]],
          [['bob', 1]],
        ]);
      });
      // And nothing of it stayed
      const left = await withClient(database.url, (client) => client.query('select 1 from unread_counts where chat_id = $1', [CHAT]));
      expect(left.rowCount).toBe(0);
    });
  });
});
