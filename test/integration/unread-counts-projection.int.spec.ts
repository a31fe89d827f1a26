import type { EntityManager } from '@mikro-orm/postgresql';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { ProjectionRunner } from '../../src/infrastructure/projections/projection-runner';
import type { StoredChatEvent } from '../../src/infrastructure/projections/projection';
import { UnreadCountsProjection } from '../../src/infrastructure/projections/unread-counts.projection';
import { parseReplayBound, replayOutbox } from '../../src/infrastructure/relay/outbox-replay';
import { eventually } from '../support/eventually';
import { unreadCountsFromEvents, unreadCountsFromProjection } from '../support/ground-truth';
import { ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const USERS = ['alice', 'bob', 'carol', 'dave'];

describe('unread-counts projection: exactly once, however often events arrive', () => {
  let database: TestDatabase;
  let server: RunningServer;
  const tokens: Record<string, string> = {};

  const counts = () => withClient(database.url, async (client) => ({
    truth: await unreadCountsFromEvents(client),
    projected: await unreadCountsFromProjection(client),
  }));
  /** Waits on the projection's progress (not on its rows), then compares once. */
  const caughtUp = async () => {
    await server.realtime.projection!.whenCaughtUp();
    const { truth, projected } = await counts();
    expect(projected).toEqual(truth);
    return projected;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    for (const user of USERS) tokens[user] = await tokenFor(user);
    await makeActivity();
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  /** Posts, reads, deletions and membership changes across three chats, in a fixed pseudo-random order. */
  async function makeActivity(): Promise<void> {
    const call = (user: string, query: string, variables: Record<string, unknown>) => ok(server.url, tokens[user]!, query, variables);
    const chats: string[] = [];
    for (let c = 0; c < 3; c++) {
      const { createChat } = await call('alice', 'mutation($ids: [ID!]!) { createChat(input: { name: "c", participantIds: $ids }) { id } }', {
        ids: USERS.slice(1, 2 + c),
      });
      chats.push(createChat.id);
    }
    const posted: { id: string; chat: number; sender: string }[] = [];
    let seed = 7;
    const next = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
    for (let step = 0; step < 120; step++) {
      const chat = next(3);
      const members = USERS.slice(0, 2 + chat);
      const user = members[next(members.length)]!;
      const action = next(10);
      if (action < 6 || posted.length === 0) {
        const { createMessage } = await call(user, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id } }', { c: chats[chat], t: `s${step}` });
        posted.push({ id: createMessage.id, chat, sender: user });
      } else if (action < 8) {
        const target = posted.filter((p) => p.chat === chat).at(-1 - next(3));
        if (target) await call(user, 'mutation($m: ID!) { markMessageAsRead(messageId: $m) { readAt } }', { m: target.id });
      } else if (action < 9) {
        const own = posted.filter((p) => p.sender === user && p.chat === chat).at(-1);
        if (own) await call(user, 'mutation($m: ID!) { deleteMessage(messageId: $m) { id } }', { m: own.id });
      }
    }
    // membership changes: carol leaves chat 1, dave joins chat 0 (and must count what is there already)
    await call('carol', 'mutation($c: ID!) { updateChat(input: { chatId: $c, removeParticipantIds: ["carol"] }) { id } }', { c: chats[1] });
    await call('alice', 'mutation($c: ID!) { updateChat(input: { chatId: $c, addParticipantIds: ["dave"] }) { id } }', { c: chats[0] });
    await call('bob', 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id } }', { c: chats[0], t: 'welcome dave' });
  }

  it('reaches the ground truth computed from the event store', async () => {
    const projected = await caughtUp();
    expect(projected.size).toBeGreaterThan(6);
    expect([...projected.values()].some((count) => count > 0)).toBe(true);
  });

  it('changes nothing when every event is delivered again, and subscribers get no duplicate', async () => {
    const before = await caughtUp();
    const watcher = connectClient(server.url, tokens.bob!);
    const start = (await ok(server.url, tokens.bob!, '{ head }')).head;
    const live = subscribe(watcher, 'subscription($a: String) { chatMessageNotification(after: $a) { cursor } }', { a: start });
    try {
      const replayed = await replayOutbox(server.database.orm, server.realtime.transport, { from: parseReplayBound('0.0')! });
      await replayOutbox(server.database.orm, server.realtime.transport, { from: parseReplayBound('0.0')! });
      expect(replayed).toBeGreaterThan(100);
      expect(await server.realtime.projection!.applyBatch()).toBe(0);
      expect((await counts()).projected).toEqual(before);
      // a fresh message still arrives, alone: the replayed ones were recognised as already delivered
      await ok(server.url, tokens.alice!, 'mutation($c: ID!) { createMessage(createMessageInput: { chatId: $c, content: "after replay" }) { id } }', {
        c: await firstChatOf('alice'),
      });
      await live.count(1);
      expect(live.items).toHaveLength(1);
    } finally {
      await watcher.dispose();
    }
  });

  it('rebuilds from the first event to the same counts', async () => {
    const before = await caughtUp();
    const runner = new ProjectionRunner(server.database.orm, new UnreadCountsProjection(), { onError: (error) => { throw error; } });
    expect(await runner.rebuild()).toBeGreaterThan(50);
    expect((await counts()).projected).toEqual(before);
  });

  it('leaves no trace of a batch that fails half-way, and applies it fully on the next run', async () => {
    await caughtUp();
    // Given a batch of new events and a projection that dies after its first event
    await server.realtime.projection!.stop();
    const chatId = await firstChatOf('alice');
    for (let i = 0; i < 3; i++) {
      await ok(server.url, tokens.bob!, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id } }', { c: chatId, t: `late ${i}` });
    }
    const real = new UnreadCountsProjection();
    const dying = {
      name: real.name,
      reset: (em: EntityManager) => real.reset(em),
      async apply(em: EntityManager, events: StoredChatEvent[]) {
        await real.apply(em, events.slice(0, 1));
        throw new Error('receiver died mid-batch');
      },
    };
    const before = (await counts()).projected;
    const crashing = new ProjectionRunner(server.database.orm, dying, { onError: () => undefined });
    // The new events are read once every older transaction on the server has ended (the xmin rule;
    // other test files run beside this one), so the crash comes on the first batch that sees them.
    await eventually(() => expect(crashing.applyBatch()).rejects.toThrow('receiver died mid-batch'));
    expect((await counts()).projected).toEqual(before);

    // When a healthy runner takes over, then every event counts once
    server.realtime.projection!.start();
    await caughtUp();
  });

  async function firstChatOf(user: string): Promise<string> {
    return (await ok(server.url, tokens[user]!, '{ chats { id } }')).chats[0].id;
  }
});
