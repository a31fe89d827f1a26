import { Client } from 'pg';
import { evolveChat, initialChatState, type ChatEvent, type ChatState } from '../../src/domain';
import { UNREAD_COUNT } from '../../src/infrastructure/persistence/unread-count';
import { appendAlone, type PendingEvent } from '../../src/infrastructure/persistence/write/stream-append';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { unreadCountsFromEvents, unreadCountsFromReadModel } from '../support/ground-truth';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const CHAT = '00000000-0000-4000-8000-0000000000c1';
const AT = '2026-12-01T00:00:00.000Z';

/** Progress that tests wait on (issue 7): the relay and the receiver feed each say when they have caught up. */
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

  it('has every record delivered once whenCaughtUp() resolves, and counts equal to the ground truth', async () => {
    // Given some activity
    const [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);
    const { createChat: chat } = await ok(server.url, alice, 'mutation { createChat(input: { name: "c", participantIds: ["bob"] }) { id } }');
    const post = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id } }';
    for (let i = 0; i < 20; i++) await ok(server.url, i % 3 ? alice : bob, post, { c: chat.id, t: `m${i}` });

    // When the instance has caught up
    await server.realtime.whenCaughtUp();

    // Then, with no retry, the counts are the ground truth's
    const { truth, counted } = await withClient(database.url, async (client) => ({
      truth: await unreadCountsFromEvents(client),
      counted: await unreadCountsFromReadModel(client),
    }));
    expect(counted).toEqual(truth);
  });

  it('fails with a message naming the reader when it cannot catch up', async () => {
    await server.realtime.relay!.stop();
    try {
      await ok(server.url, await tokenFor('alice'), 'mutation { createChat(input: { name: "stuck", participantIds: [] }) { id } }');
      await expect(server.realtime.relay!.whenCaughtUp(200)).rejects.toThrow(/outbox relay.* did not reach/);
    } finally {
      server.realtime.relay!.start();
    }
  });

  describe('the write transaction’s inline projections at adapter depth, in a transaction rolled back afterwards', () => {
    let state: ChatState = initialChatState(CHAT);
    let version = 0;
    const pending = (event: ChatEvent): PendingEvent => {
      state = evolveChat(state, event);
      return { eventId: `00000000-0000-4000-8000-${String(++version).padStart(12, '0')}`, chatId: CHAT, version, occurredAt: AT, event, chat: state };
    };
    const posted = (seq: number, senderId: string): ChatEvent => ({
      type: 'MessagePosted',
      data: { chatId: CHAT, messageId: `00000000-0000-4000-9000-00000000000${seq}`, senderId, content: `m${seq}`, seq, clientMessageId: null, postedAt: AT },
    });

    it('given a chat, posts, a read and a deletion, holds the rows and counts they imply', async () => {
      const client = new Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query('begin');
        // Given: a chat of alice, bob and carol; alice posts three times; bob reads the first; alice deletes the third
        await appendAlone(client, [
          pending({ type: 'ChatCreated', data: { chatId: CHAT, name: 'n', participantIds: ['alice', 'bob', 'carol'], createdBy: 'alice', createdAt: AT } }),
          pending(posted(1, 'alice')),
          pending(posted(2, 'alice')),
          pending(posted(3, 'alice')),
          pending({ type: 'MessageRead', data: { chatId: CHAT, messageId: '00000000-0000-4000-9000-000000000001', userId: 'bob', seq: 1, readAt: AT } }),
          pending({ type: 'MessageDeleted', data: { chatId: CHAT, messageId: '00000000-0000-4000-9000-000000000003', senderId: 'alice', seq: 3, deletedAt: AT } }),
        ]);

        // Then: the read marks, the chat row and the unread counts follow from them
        const { rows: members } = await client.query<{ user_id: string; read_seq: number; unread: number }>(
          `select me.user_id, me.read_seq, ${UNREAD_COUNT} as unread
           from chat_participants me join chats c on c.id = me.chat_id where me.chat_id = $1 order by me.user_id`,
          [CHAT],
        );
        expect(members).toEqual([
          { user_id: 'alice', read_seq: 3, unread: 0 },
          { user_id: 'bob', read_seq: 1, unread: 1 },
          { user_id: 'carol', read_seq: 0, unread: 2 },
        ]);
        const { rows: [chat] } = await client.query('select last_seq from chats where id = $1', [CHAT]);
        expect(chat).toEqual({ last_seq: 3 });
        const { rows: outbox } = await client.query('select count(*)::int as rows from outbox where chat_id = $1', [CHAT]);
        expect(outbox).toEqual([{ rows: 6 }]);
      } finally {
        await client.query('rollback');
        await client.end();
      }
      // And nothing of it stayed
      const left = await withClient(database.url, (admin) => admin.query('select 1 from events where stream_id = $1', [CHAT]));
      expect(left.rowCount).toBe(0);
    });
  });
});
