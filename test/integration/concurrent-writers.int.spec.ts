import type { RunningServer } from '../../src/interfaces/composition/server';
import { errorCodes, graphql, ok } from '../support/graphql-http';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

const WRITERS = 4;
const POSTS_PER_WRITER = 100;

const CREATE_CHAT = `mutation($name: String!, $ids: [ID!]!) { createChat(input: { name: $name, participantIds: $ids }) { id } }`;
const POST = `mutation($chatId: ID!, $content: String!, $clientMessageId: String) {
  createMessage(createMessageInput: { chatId: $chatId, content: $content, clientMessageId: $clientMessageId }) { id seq content }
}`;
const PAGE = `query($chatId: ID!, $afterSeq: Int) { messages(chatId: $chatId, afterSeq: $afterSeq, limit: 200) { hasMore messages { id seq content senderId } } }`;

describe('concurrent writers on one chat (4 server instances, one PostgreSQL)', () => {
  let database: TestDatabase;
  const servers: RunningServer[] = [];
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    servers.push(await startTestServer(database.url));
    for (let i = 1; i < WRITERS; i++) servers.push(await startTestServer(database.url, { MIGRATE_ON_START: 'false' }));
    [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
  });

  it('gives 400 concurrent posts seq 1..400 with no gap, no duplicate and no error', async () => {
    // Given a chat of alice and bob
    const { createChat } = await ok(servers[0]!.url, alice, CREATE_CHAT, { name: 'busy', ids: ['bob'] });

    // When 4 writers each send 100 posts at once, alternating senders
    const responses = await Promise.all(
      servers.flatMap((server, writer) =>
        Array.from({ length: POSTS_PER_WRITER }, (_, i) =>
          graphql(server.url, i % 2 ? alice : bob, POST, { chatId: createChat.id, content: `w${writer}-${i}` }),
        ),
      ),
    );

    // Then every post succeeded, and the chat holds exactly seq 1..400, each content once
    expect(responses.flatMap(errorCodes)).toEqual([]);
    const seqs = responses.map((response) => response.data!.createMessage.seq as number).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: WRITERS * POSTS_PER_WRITER }, (_, i) => i + 1));

    const first = await ok(servers[1]!.url, bob, PAGE, { chatId: createChat.id, afterSeq: 0 });
    const second = await ok(servers[2]!.url, bob, PAGE, { chatId: createChat.id, afterSeq: 200 });
    expect(first.messages.hasMore).toBe(true);
    expect(second.messages.hasMore).toBe(false);
    const stored = [...first.messages.messages, ...second.messages.messages];
    expect(stored.map((message: { seq: number }) => message.seq)).toEqual(seqs);
    expect(new Set(stored.map((message: { content: string }) => message.content)).size).toBe(WRITERS * POSTS_PER_WRITER);

    // And the stream has one event per version and one outbox row per event
    await withClient(database.url, async (client) => {
      const { rows } = await client.query(
        `select count(*)::int as events, max(version) as max_version,
                (select count(*)::int from outbox o join events e on e.position = o.event_position where e.stream_id = $1) as outbox
         from events where stream_id = $1`,
        [createChat.id],
      );
      expect(rows[0]).toEqual({ events: 401, max_version: 401, outbox: 401 });
    });
  });

  it('keeps seq gapless and in order at every receiver while 2 senders take many concurrent posters', async () => {
    // Given a chat, and a subscriber on each of two other instances (each relays the outbox to its own)
    const { createChat } = await ok(servers[0]!.url, alice, CREATE_CHAT, { name: 'ordered', ids: ['bob'] });
    const from = (await ok(servers[2]!.url, bob, '{ head }')).head;
    const watchers = [servers[2]!, servers[3]!].map((server) => connectClient(server.url, bob));
    const ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq content } }';
    const received = watchers.map((watcher) => subscribe(watcher, ADDED, { c: createChat.id, a: from }));
    try {
      // When 40 posters post 8 times each, back to back, half through each of two senders
      const total = 40 * 8;
      await Promise.all(
        Array.from({ length: 40 }, async (_, poster) => {
          for (let i = 0; i < 8; i++) {
            await ok(servers[poster % 2]!.url, poster % 3 ? alice : bob, POST, { chatId: createChat.id, content: `${poster}.${i}` });
          }
        }),
      );

      // Then every receiver delivers seq 1..320 in order, each post once, and each poster's posts in its order
      for (const messages of received) {
        const got = await messages.count(total);
        expect(got.map((message) => message.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        for (let poster = 0; poster < 40; poster++) {
          const own = got.filter((message) => message.content.startsWith(`${poster}.`)).map((message) => message.content);
          expect(own).toEqual(Array.from({ length: 8 }, (_, i) => `${poster}.${i}`));
        }
      }
    } finally {
      await Promise.all(watchers.map((watcher) => watcher.dispose()));
    }
  });

  it('turns concurrent retries with one clientMessageId into one message', async () => {
    const { createChat } = await ok(servers[0]!.url, alice, CREATE_CHAT, { name: 'retries', ids: ['bob'] });

    // When the same post is retried 12 times through every instance at once
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        graphql(servers[i % WRITERS]!.url, alice, POST, { chatId: createChat.id, content: 'once', clientMessageId: 'tap-1' }),
      ),
    );

    // Then every answer is the same message, stored once
    expect(responses.flatMap(errorCodes)).toEqual([]);
    const ids = new Set(responses.map((response) => response.data!.createMessage.id));
    expect(ids.size).toBe(1);
    const page = await ok(servers[3]!.url, bob, PAGE, { chatId: createChat.id, afterSeq: 0 });
    expect(page.messages.messages).toHaveLength(1);
    expect(page.messages.messages[0]).toMatchObject({ seq: 1, content: 'once', senderId: 'alice' });
  });

  it('keeps the same clientMessageId from different senders apart', async () => {
    const { createChat } = await ok(servers[0]!.url, alice, CREATE_CHAT, { name: 'two senders', ids: ['bob'] });
    const fromAlice = await ok(servers[0]!.url, alice, POST, { chatId: createChat.id, content: 'a', clientMessageId: 'same' });
    const fromBob = await ok(servers[1]!.url, bob, POST, { chatId: createChat.id, content: 'b', clientMessageId: 'same' });
    expect(fromAlice.createMessage.id).not.toBe(fromBob.createMessage.id);
    expect([fromAlice.createMessage.seq, fromBob.createMessage.seq]).toEqual([1, 2]);
  });
});
