import { randomUUID } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { compareCursors } from '../../src/application';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { errorCodes, graphql, ok, type GraphQLResponse } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe, type Received } from '../support/ws-client';

const CREATE_CHAT = 'mutation($n: String!, $ids: [ID!]!) { createChat(input: { name: $n, participantIds: $ids }) { id } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id seq cursor } }';
const UPDATE = 'mutation($i: UpdateChatInput!) { updateChat(input: $i) { id } }';
const NOTIFICATIONS = 'subscription($a: String) { chatMessageNotification(after: $a) { chatId senderId cursor message { id seq content } } }';
const CHAT_ADDED = 'subscription($a: String) { chatAdded(after: $a) { id participantIds cursor } }';
const MESSAGE_ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { id seq cursor } }';

interface Notification {
  chatId: string;
  senderId: string;
  cursor: string;
  message: { id: string; seq: number; content: string };
}

interface StoredEvent {
  type: string;
  cursor: string;
  data: Record<string, any>;
}

/**
 * DESIGN.md §4 "Membership without lists": a receiver learns who is in a chat from the chat's own
 * membership events and makes the user-scoped kinds from that, with Redis in between (the relay
 * publishes, the interest feed subscribes by interest). Judged against the event store: what a user
 * gets is decided by where each post committed relative to the membership change, never by timing.
 */
describe('delivery follows membership, judged against commit order', () => {
  let database: TestDatabase;
  let server: RunningServer;
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];
  const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url, {
      REDIS_URL: process.env.TEST_REDIS_URL!,
      REDIS_CHANNEL_PREFIX: `md-${randomUUID().slice(0, 8)}:`,
      RELAY_PARTITIONS: '4',
    });
    for (const user of USERS) tokens[user] = await tokenFor(user);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.dispose()));
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  const call = (user: string, query: string, variables: Record<string, unknown> = {}) => ok(server.url, tokens[user]!, query, variables);
  const client = (user: string) => {
    const created = connectClient(server.url, tokens[user]!);
    clients.push(created);
    return created;
  };
  const newChat = async (creator: string, others: string[]) => (await call(creator, CREATE_CHAT, { n: 'membership', ids: others })).createChat.id as string;
  /** The chat's events in commit order, each with its cursor. */
  const eventsOf = (chatId: string) =>
    withClient(database.url, async (c) =>
      (
        await c.query<{ type: string; tx_id: string; position: string; data: Record<string, any> }>(
          // Ordered by the qualified columns: the text aliases would sort "10" before "9".
          'select e.type, e.tx_id::text as tx_id, e.position::text as position, e.data from events e where e.stream_id = $1 order by e.tx_id, e.position',
          [chatId],
        )
      ).rows.map((row): StoredEvent => ({ type: row.type, cursor: `${row.tx_id}.${row.position}`, data: row.data })),
    );
  const postsOf = (events: StoredEvent[]) => events.filter((event) => event.type === 'MessagePosted');
  const ids = (items: { message: { id: string } }[]) => items.map((item) => item.message.id);
  const inChat = (received: Received<Notification>, chatId: string) => received.items.filter((item) => item.chatId === chatId);

  /**
   * Posts to a chat of its own until the user is notified of one: their user-scoped subscriptions are
   * live from there. A subscription without `after` is live from when the server has set it up, which
   * the client does not see: a probe committed before that is rightly never sent, so another follows.
   */
  async function proveLive(user: string, notifications: Received<Notification>): Promise<void> {
    const probe = await newChat('carol', [user]);
    for (let attempt = 1; ; attempt++) {
      const { createMessage } = await call('carol', POST, { c: probe, t: `probe ${attempt}` });
      try {
        await notifications.until(() => notifications.items.some((item) => item.message.id === createMessage.id), attempt < 10 ? 1500 : 15_000, `probe ${attempt} in ${probe}`);
        return;
      } catch (error) {
        if (attempt >= 10) throw error;
      }
    }
  }

  it('a user added to a busy chat while connected gets chatAdded, then every post committed after the addition: no gap, no repeat, none from before', async () => {
    const busy = await newChat('alice', ['bob']);
    const dave = client('dave');
    const arrivals: string[] = [];
    const added = subscribe(dave, CHAT_ADDED);
    const notifications = subscribe<Notification>(dave, NOTIFICATIONS);
    await proveLive('dave', notifications);
    // Arrival order across both subscriptions of the one socket.
    const pushAdded = added.push.bind(added);
    added.push = (item) => (arrivals.push(`chatAdded:${item.id}`), pushAdded(item));
    const pushNotification = notifications.push.bind(notifications);
    notifications.push = (item) => (arrivals.push(`post:${item.message.id}`), pushNotification(item));

    // Two posters keep the chat busy before, during and after the addition.
    let adding: Promise<unknown> | null = null;
    const poster = async (user: string, count: number) => {
      for (let i = 0; i < count; i++) {
        if (user === 'alice' && i === 15) adding = call('bob', UPDATE, { i: { chatId: busy, addParticipantIds: ['dave'] } });
        await call(user, POST, { c: busy, t: `${user} ${i}` });
      }
    };
    await Promise.all([poster('alice', 40), poster('bob', 40)]);
    await adding;

    const events = await eventsOf(busy);
    const addition = events.find((event) => event.type === 'ParticipantsAdded')!;
    const expected = postsOf(events).filter((event) => compareCursors(event.cursor, addition.cursor) > 0);
    // The addition really happened in the middle of the traffic.
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(80);
    await server.realtime.whenCaughtUp();
    await notifications.until(() => inChat(notifications, busy).length >= expected.length, 15_000, `${expected.length} posts of the busy chat`);

    expect(added.items.filter((chat) => chat.id === busy)).toHaveLength(1);
    expect(ids(inChat(notifications, busy))).toEqual(expected.map((event) => event.data.messageId));
    const mine = arrivals.filter((arrival) => arrival === `chatAdded:${busy}` || expected.some((event) => arrival === `post:${event.data.messageId}`));
    expect(mine[0]).toBe(`chatAdded:${busy}`);
  });

  it('a removed user gets nothing of the chat committed after the removal, with posts racing it', async () => {
    const split: [number, number][] = [];
    for (let round = 0; round < 3; round++) {
      const chat = await newChat('alice', ['bob', 'erin']);
      const erin = client('erin');
      const notifications = subscribe<Notification>(erin, NOTIFICATIONS);
      const messages = subscribe<{ id: string; seq: number; cursor: string }>(erin, MESSAGE_ADDED, { c: chat });
      await proveLive('erin', notifications);
      // messageAdded is live once a post of the chat arrives on it.
      const first = (await call('alice', POST, { c: chat, t: 'first' })).createMessage;
      await messages.until(() => messages.items.some((item) => item.id === first.id), 15_000, 'the first post');

      // Two posters keep going while the removal is fired, together with a burst of posts: some
      // commit before it, some after, some in the same write transaction.
      const answers: Promise<GraphQLResponse>[] = [];
      let removal: Promise<unknown> | null = null;
      const poster = async (user: string) => {
        for (let i = 0; i < 12; i++) {
          if (user === 'alice' && i === 4 + round) {
            const burst = Array.from({ length: 6 }, (_, k) => graphql(server.url, tokens[k % 2 ? 'alice' : 'bob']!, POST, { c: chat, t: `burst ${round}.${k}` }));
            removal = call('alice', UPDATE, { i: { chatId: chat, removeParticipantIds: ['erin'] } });
            answers.push(...burst);
          }
          const answer = graphql(server.url, tokens[user]!, POST, { c: chat, t: `${user} ${round}.${i}` });
          answers.push(answer);
          await answer;
        }
      };
      await Promise.all([poster('alice'), poster('bob')]);
      await removal;
      expect((await Promise.all(answers)).flatMap(errorCodes)).toEqual([]);
      await server.realtime.whenCaughtUp();
      // A later post erin is notified of: every row before it has been routed.
      const fence = await newChat('alice', ['erin']);
      const last = (await call('alice', POST, { c: fence, t: 'fence' })).createMessage;
      await notifications.until(() => notifications.items.some((item) => item.message.id === last.id), 15_000, 'the fence');

      const events = await eventsOf(chat);
      const removedAt = events.find((event) => event.type === 'ParticipantsRemoved')!.cursor;
      const before = postsOf(events).filter((event) => compareCursors(event.cursor, removedAt) < 0).map((event) => event.data.messageId);
      const after = postsOf(events).filter((event) => compareCursors(event.cursor, removedAt) > 0).map((event) => event.data.messageId);
      // Notifications: exactly the posts committed before the removal, the sender's own left out.
      const fromOthers = postsOf(events)
        .filter((event) => compareCursors(event.cursor, removedAt) < 0 && event.data.senderId !== 'erin')
        .map((event) => event.data.messageId);
      expect(ids(inChat(notifications, chat))).toEqual(fromOthers);
      // The chat subscription: posts before the removal only, in order, and nothing after it.
      const seen = messages.items.map((item) => item.id);
      expect(seen.filter((id) => after.includes(id))).toEqual([]);
      expect(seen).toEqual(before.slice(0, seen.length));
      split.push([before.length - 1, after.length]);
      await Promise.all(clients.splice(0).map((c) => c.dispose()));
    }
    // The race was real: in some round, racing posts committed on both sides of the removal.
    expect(split.some(([racedBefore, racedAfter]) => racedBefore > 0 && racedAfter > 0)).toBe(true);
  });

  it('a user-scoped subscription over chats in several partitions resumes after its last cursor with exactly what followed', async () => {
    const partitions = new Map<string, number>();
    const partitionOf = (chatId: string) =>
      withClient(database.url, async (c) => (await c.query<{ partition: number }>('select partition from chats where id = $1', [chatId])).rows[0]!.partition);
    while (partitions.size < 6 || new Set(partitions.values()).size < 3) {
      const chat = await newChat(partitions.size % 2 ? 'alice' : 'bob', ['frank', 'alice', 'bob']);
      partitions.set(chat, await partitionOf(chat));
    }
    const chats = [...partitions.keys()];
    const head = (await call('frank', '{ head }')).head as string;

    // Posts across every chat, while the first subscription runs and after it was cut.
    const posted: string[] = [];
    const postRound = async (round: number) => {
      const answers = await Promise.all(chats.map((chat, i) => call(i % 2 ? 'alice' : 'bob', POST, { c: chat, t: `p${round}.${i}` })));
      posted.push(...answers.map((answer) => answer.createMessage.id as string));
    };
    const first = subscribe<Notification>(client('frank'), NOTIFICATIONS, { a: head });
    const traffic = (async () => {
      for (let round = 0; round < 10; round++) await postRound(round);
    })();
    await first.until(() => first.items.length >= 15, 20_000, '15 notifications');
    // Cut while posts are still being made.
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    const before = [...first.items];
    const lastCursor = before.at(-1)!.cursor;
    await traffic;
    for (let round = 10; round < 12; round++) await postRound(round);

    const resumed = subscribe<Notification>(client('frank'), NOTIFICATIONS, { a: lastCursor });
    const rest = posted.length - before.length;
    await resumed.count(rest, 20_000);
    // A fence after everything: nothing more than what followed comes.
    await server.realtime.whenCaughtUp();
    const fence = (await call('alice', POST, { c: chats[0]!, t: 'fence' })).createMessage;
    await resumed.until(() => resumed.items.some((item) => item.message.id === fence.id), 15_000, 'the fence');

    const after = ids(resumed.items).filter((id) => id !== fence.id);
    expect(new Set(before.map((item) => item.message.id)).size).toBe(before.length);
    expect(new Set(after).size).toBe(after.length);
    expect(after.filter((id) => ids(before).includes(id))).toEqual([]);
    expect([...ids(before), ...after].sort()).toEqual([...posted].sort());
    // The cut fell in the middle of the traffic.
    expect(after.length).toBeGreaterThan(0);
    // Each chat's posts in commit (seq) order across the cut.
    for (const chat of chats) {
      const seqs = [...before, ...resumed.items].filter((item) => item.chatId === chat).map((item) => item.message.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  });
});
