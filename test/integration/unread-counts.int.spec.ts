import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { unreadCountsFromEvents, unreadCountsFromReadModel } from '../support/ground-truth';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe, type Received } from '../support/ws-client';

const ACTIVE = ['alice', 'bob', 'carol', 'dave'];
const IDLE = Array.from({ length: 996 }, (_, i) => `idle-${i}`);
const CREATE_CHAT = 'mutation($n: String!, $ids: [ID!]!) { createChat(input: { name: $n, participantIds: $ids }) { id } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id } }';
const READ = 'mutation($m: ID!) { markMessageAsRead(messageId: $m) { readAt } }';
const DELETE = 'mutation($m: ID!) { deleteMessage(messageId: $m) { id } }';
const EDIT = 'mutation($m: ID!, $t: String!) { updateMessage(messageId: $m, content: $t) { id } }';
const UPDATE = 'mutation($input: UpdateChatInput!) { updateChat(input: $input) { id } }';
const COUNTS_LIVE = 'subscription($a: String) { unreadCountUpdated(after: $a) { chatId userId unreadCount cursor } }';

/**
 * DESIGN.md §4: unread count = messages above the member's read mark, sent by someone else, not
 * deleted. Counts are computed from the chat's last seq, the mark and the deletions (issue 8), so
 * they are checked against the ground truth folded from the event store with the domain's own
 * `evolveChat`, for every participant, after a randomized workload with posts (several at once),
 * reads, edits, deletions and members who leave and come back, in chats of 2, 3 and 1000.
 */
describe('unread counts: equal to the ground truth from the event store', () => {
  let database: TestDatabase;
  let server: RunningServer;
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];
  const live: Record<string, Received> = {};
  const chats: { id: string; members: Set<string>; creator: string }[] = [];

  const call = (user: string, query: string, variables: Record<string, unknown>) => ok(server.url, tokens[user]!, query, variables);

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    for (const user of ACTIVE) tokens[user] = await tokenFor(user);
    const start = (await call('alice', '{ head }', {})).head;
    for (const user of ['bob', 'carol']) {
      const client = connectClient(server.url, tokens[user]!);
      clients.push(client);
      live[user] = subscribe(client, COUNTS_LIVE, { a: start });
    }
    const layouts: [string, string[]][] = [
      ['alice', ['bob']],
      ['alice', ['bob', 'carol']],
      ['alice', ['bob', 'carol', 'dave', ...IDLE]],
      ['bob', ['alice', 'carol', 'dave', ...IDLE]],
    ];
    for (const [creator, others] of layouts) {
      const { createChat } = await call(creator, CREATE_CHAT, { n: 'counted', ids: others });
      chats.push({ id: createChat.id, members: new Set([creator, ...others]), creator });
    }
    await randomWorkload();
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await server.stop();
    await database.drop();
  });

  async function randomWorkload(): Promise<void> {
    let seed = 20261202;
    const next = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
    const posted: { id: string; chat: number; sender: string; deleted: boolean }[] = [];
    const activeIn = (chat: number) => ACTIVE.filter((user) => chats[chat]!.members.has(user));
    for (let round = 0; round < 40; round++) {
      // Several commands at once, so that they share write transactions.
      const steps = Array.from({ length: 6 }, () => {
        const chat = next(chats.length);
        const user = activeIn(chat)[next(activeIn(chat).length)]!;
        const action = next(10);
        const mine = posted.filter((p) => p.chat === chat && p.sender === user && !p.deleted);
        const theirs = posted.filter((p) => p.chat === chat && p.sender !== user);
        if (action < 6 || posted.length < 5) {
          return async () => {
            const { createMessage } = await call(user, POST, { c: chats[chat]!.id, t: `r${round}` });
            posted.push({ id: createMessage.id, chat, sender: user, deleted: false });
          };
        }
        if (action < 8 && theirs.length > 0) {
          const target = theirs[next(theirs.length)]!;
          return () => call(user, READ, { m: target.id });
        }
        if (action < 9 && mine.length > 0) {
          const target = mine[next(mine.length)]!;
          target.deleted = true;
          return () => call(user, DELETE, { m: target.id });
        }
        if (mine.length > 0) return () => call(user, EDIT, { m: mine[next(mine.length)]!.id, t: `edited ${round}` });
        return async () => undefined;
      });
      await Promise.all(steps.map((step) => step()));
      // Members leave and come back: their mark starts afresh, their own earlier posts stay theirs.
      if (round % 8 === 7) {
        const chat = 1 + next(3);
        const leaver = chat === 3 ? 'carol' : 'dave';
        if (!chats[chat]!.members.has(leaver)) continue;
        await call(leaver, UPDATE, { input: { chatId: chats[chat]!.id, removeParticipantIds: [leaver] } });
        chats[chat]!.members.delete(leaver);
        await call(chats[chat]!.creator, POST, { c: chats[chat]!.id, t: `while ${leaver} is away` });
        await call(chats[chat]!.creator, UPDATE, { input: { chatId: chats[chat]!.id, addParticipantIds: [leaver] } });
        chats[chat]!.members.add(leaver);
      }
    }
  }

  it('computes every participant’s count as the ground truth does, in chats of 2 and of 1000', async () => {
    const { truth, computed } = await withClient(database.url, async (client) => ({
      truth: await unreadCountsFromEvents(client),
      computed: await unreadCountsFromReadModel(client),
    }));
    expect(computed.size).toBe(2 + 3 + 1000 + 1000);
    expect(computed).toEqual(truth);
    // The workload reached the interesting cases.
    expect([...truth.values()].filter((count) => count > 0).length).toBeGreaterThan(1000);
    await withClient(database.url, async (client) => {
      const { rows } = await client.query(`select count(*)::int as n from messages where deleted_at is not null`);
      expect(rows[0].n).toBeGreaterThan(3);
      const rejoined = await client.query(`select count(*)::int as n from chat_participants where last_own_seq > read_seq`);
      expect(rejoined.rows[0].n).toBeGreaterThan(0);
    });
  });

  it('answers unreadCounts with the same values', async () => {
    const truth = await withClient(database.url, unreadCountsFromEvents);
    for (const user of ACTIVE) {
      const { unreadCounts } = await call(user, '{ unreadCounts { chatId unreadCount } }', {});
      const expected = chats.filter((chat) => chat.members.has(user)).map((chat) => ({ chatId: chat.id, unreadCount: truth.get(`${chat.id}/${user}`) }));
      expect([...unreadCounts].sort(byChat)).toEqual(expected.sort(byChat));
    }
  });

  it('sends unreadCountUpdated live until the last value of each count equals the ground truth', async () => {
    const truth = await withClient(database.url, unreadCountsFromEvents);
    for (const user of ['bob', 'carol']) {
      const received = live[user]!;
      const lastValues = () => {
        const last = new Map<string, number>();
        for (const item of received.items) last.set(item.chatId, item.unreadCount);
        return last;
      };
      const expected = new Map(chats.filter((chat) => chat.members.has(user)).map((chat) => [chat.id, truth.get(`${chat.id}/${user}`)]));
      await received.until(() => [...expected].every(([chatId, count]) => lastValues().get(chatId) === count), 20_000, `${user}'s final counts`);
      expect(received.items.every((item) => item.userId === user)).toBe(true);
    }
  });

  it('writes the same rows for a post in a chat of 1000 as in a chat of 2', async () => {
    // Rows whose current version the post's own transaction wrote, table by table.
    const rowsWrittenBy = async (chat: number) => {
      const { createMessage } = await call('alice', 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { cursor } }', {
        c: chats[chat]!.id,
        t: 'measured',
      });
      const xid = (BigInt(createMessage.cursor.split('.')[0]) % 2n ** 32n).toString();
      return withClient(database.url, async (client) => {
        const tables = ['events', 'outbox', 'messages', 'chats', 'chat_participants', 'message_reads'];
        const counts: Record<string, number> = {};
        for (const table of tables) {
          counts[table] = (await client.query(`select count(*)::int as n from ${table} where xmin::text = $1`, [xid])).rows[0].n;
        }
        return counts;
      });
    };
    const small = await rowsWrittenBy(0);
    expect(small).toEqual({ events: 1, outbox: 1, messages: 1, chats: 1, chat_participants: 1, message_reads: 0 });
    expect(await rowsWrittenBy(2)).toEqual(small);
  });
});

function byChat(a: { chatId: string }, b: { chatId: string }): number {
  return a.chatId < b.chatId ? -1 : a.chatId > b.chatId ? 1 : 0;
}
