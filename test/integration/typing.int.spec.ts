import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { errorCodes, graphql, ok } from '../support/graphql-http';
import { ManualClock } from '../support/manual-clock';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe, type Received } from '../support/ws-client';

const TYPING = 'subscription($c: ID!) { typingIndicator(chatId: $c) { chatId userId isTyping } }';
const SET_TYPING = 'mutation($c: ID!, $t: Boolean) { setTyping(chatId: $c, isTyping: $t) }';
const MESSAGE_ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { senderId content } }';

type Frame = { chatId: string; userId: string; isTyping: boolean };
/** A participant of every chat here whose stops prove a subscription live; their frames are left out of what is compared. */
const PROVER = 'pat';

/**
 * Typing indicators (DESIGN.md §10) across instances: a sender+relay, and two receivers. Alice's
 * sockets are on the first receiver, Bob's and Carol's on the second, whose clock the test holds.
 */
describe('typing indicators across receivers', () => {
  let database: TestDatabase;
  let hub: RunningServer;
  let first: RunningServer;
  let second: RunningServer;
  const secondClock = new ManualClock();
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];
  const prefix = `typing-${randomBytes(3).toString('hex')}:`;

  beforeAll(async () => {
    database = await createTestDatabase();
    const redis = { REDIS_URL: process.env.TEST_REDIS_URL!, REDIS_CHANNEL_PREFIX: prefix };
    hub = await startTestServer(database.url, { ...redis, ROLE: 'sender,relay', HTTP_OPERATIONS_PER_SECOND: '20' });
    first = await startTestServer(database.url, { ...redis, ROLE: 'receiver', MIGRATE_ON_START: 'false' });
    second = await startTestServer(database.url, { ...redis, ROLE: 'receiver', MIGRATE_ON_START: 'false' }, { clock: secondClock });
    for (const user of ['alice', 'bob', 'carol', 'mallory', 'dave', PROVER]) tokens[user] = await tokenFor(user);
  });

  afterEach(async () => {
    secondClock.resume();
    await Promise.all(clients.splice(0).map((client) => client.dispose()));
  });

  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
    await hub?.stop();
    await database.drop();
  });

  const client = (server: RunningServer, user: string) => {
    const created = connectClient(server.url, tokens[user]!);
    clients.push(created);
    return created;
  };
  const newChat = async (name: string, others: string[]) =>
    (await ok(hub.url, tokens.alice!, 'mutation($n: String!, $p: [ID!]!) { createChat(input: { name: $n, participantIds: $p }) { id } }', { n: name, p: [...others, PROVER] })).createChat.id as string;
  const setTyping = (user: string, chatId: string, isTyping?: boolean, url = hub.url) =>
    graphql(url, tokens[user]!, SET_TYPING, isTyping === undefined ? { c: chatId } : { c: chatId, t: isTyping });
  const post = (user: string, chatId: string, content: string) =>
    ok(hub.url, tokens[user]!, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }', { c: chatId, t: content });
  /** Subscribed (on a socket of its own unless given one), and the subscription live on its receiver. */
  const watching = async (server: RunningServer, user: string, chatId: string, on = client(server, user)): Promise<Received<Frame>> => {
    const received = subscribe<Frame>(on, TYPING, { c: chatId });
    // A subscription is live once the receiver follows the chat: poll with stops, which are never held back.
    await received.pokeUntil(() => received.items.some((frame) => frame.userId === PROVER), () => setTyping(PROVER, chatId, false), `a frame of ${PROVER}`);
    return received;
  };

  it('shows a typist to the other participants on other receivers, never to the typist', async () => {
    const chatId = await newChat('across', ['bob', 'carol']);
    const bob = await watching(second, 'bob', chatId);
    const alice = await watching(first, 'alice', chatId);

    expect((await setTyping('alice', chatId)).data).toEqual({ setTyping: true });
    await setTyping('carol', chatId, true);
    await bob.until(() => apartFrom(bob).length >= 2, 10_000, 'two typists');
    await alice.until(() => apartFrom(alice).length >= 1, 10_000, "carol's typing");

    expect(apartFrom(bob)).toEqual([
      { chatId, userId: 'alice', isTyping: true },
      { chatId, userId: 'carol', isTyping: true },
    ]);
    // Alice saw Carol's, which was published after hers: her own never came to her.
    expect(apartFrom(alice)).toEqual([{ chatId, userId: 'carol', isTyping: true }]);
  });

  it('lets one isTyping: true out per 2 s across the cluster however often and wherever it is called, and never holds back false', async () => {
    const chatId = await newChat('throttle', ['bob']);
    const bob = await watching(second, 'bob', chatId);
    const aliceOnFirst = client(first, 'alice');
    const overSocket = () =>
      new Promise<unknown>((resolve, reject) => {
        aliceOnFirst.subscribe({ query: SET_TYPING, variables: { c: chatId } }, { next: resolve, error: reject, complete: () => undefined });
      });
    // 30 calls through three instances (HTTP on the sender and on a receiver, a receiver's socket), all within the window.
    const calls = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? overSocket() : setTyping('alice', chatId, true, i % 3 === 1 ? hub.url : first.url))),
    );
    expect(calls).toHaveLength(30);
    // Published after every call answered: everything they published is ahead of it on the chat's channel.
    await setTyping('alice', chatId, false);
    await bob.until(() => apartFrom(bob).length >= 2, 10_000, 'the stop');
    expect(apartFrom(bob)).toEqual([
      { chatId, userId: 'alice', isTyping: true },
      { chatId, userId: 'alice', isTyping: false },
    ]);
  });

  it('lapses an isTyping: true 6 s after the last one, by the receiver clock', async () => {
    const chatId = await newChat('lapse', ['bob']);
    const bob = await watching(second, 'bob', chatId);
    secondClock.stop();
    await setTyping('alice', chatId, true);
    await bob.until(() => apartFrom(bob).length >= 1, 10_000, "alice's typing");
    // Time stands still on Bob's receiver: nothing lapses however long the test takes until it moves.
    secondClock.advance(5_000);
    // A frame for the others, not Bob: one more round trip through the receiver, after which nothing lapsed.
    await setTyping('bob', chatId, true);
    await second.realtime.typing!.checkLapses();
    expect(apartFrom(bob)).toEqual([{ chatId, userId: 'alice', isTyping: true }]);
    secondClock.advance(1_001);
    await bob.until(() => apartFrom(bob).length >= 2, 10_000, 'the lapse');
    expect(apartFrom(bob)).toEqual([
      { chatId, userId: 'alice', isTyping: true },
      { chatId, userId: 'alice', isTyping: false },
    ]);
  });

  it('ends typing with the typist’s post: the isTyping: false comes right after the post, not at the lapse', async () => {
    const chatId = await newChat('post', ['bob']);
    // One socket for both: frames of one socket arrive in the order the receiver sent them.
    const bobSocket = client(second, 'bob');
    const head = (await ok(hub.url, tokens.bob!, '{ head }')).head as string;
    const messages = subscribe<{ senderId: string; content: string }>(bobSocket, MESSAGE_ADDED, { c: chatId, a: head });
    const bob = await watching(second, 'bob', chatId, bobSocket);
    // Time stands still on Bob's receiver: no lapse can end Alice's typing.
    secondClock.stop();
    await setTyping('alice', chatId, true);
    await bob.until(() => apartFrom(bob).length >= 1, 10_000, "alice's typing");
    let messagesWhenStopped = -1;
    bob.until(() => apartFrom(bob).length >= 2, 15_000, 'the stop').then(() => (messagesWhenStopped = messages.items.length), () => undefined);
    await post('alice', chatId, 'done typing');
    await bob.until(() => apartFrom(bob).length >= 2, 10_000, 'the stop');
    expect(apartFrom(bob)).toEqual([
      { chatId, userId: 'alice', isTyping: true },
      { chatId, userId: 'alice', isTyping: false },
    ]);
    // The post went out before the end of its author's typing.
    expect(messagesWhenStopped).toBe(1);
    expect(messages.items).toEqual([{ senderId: 'alice', content: 'done typing' }]);
  });

  it('is for participants only: others are refused, and a removed subscriber stops getting frames at once', async () => {
    const chatId = await newChat('members', ['bob', 'carol']);
    const refused = await setTyping('mallory', chatId, true);
    expect(errorCodes(refused)).toEqual(['FORBIDDEN']);
    expect(errorCodes(await setTyping('mallory', '00000000-0000-4000-8000-000000000000', true))).toEqual(['NOT_FOUND']);
    const stranger = subscribe<Frame>(client(second, 'mallory'), TYPING, { c: chatId });
    expect(await stranger.error()).toMatchObject([{ extensions: { code: 'FORBIDDEN' } }]);

    const bob = await watching(second, 'bob', chatId);
    const carol = await watching(second, 'carol', chatId);
    await ok(hub.url, tokens.alice!, 'mutation($c: ID!) { updateChat(input: { chatId: $c, removeParticipantIds: ["bob"] }) { id } }', { c: chatId });
    expect(await bob.error()).toMatchObject([{ extensions: { code: 'FORBIDDEN' } }]);
    const bobFrames = bob.items.length;
    await setTyping('alice', chatId, true);
    await carol.until(() => apartFrom(carol).length >= 1, 10_000, "alice's typing");
    expect(apartFrom(carol)).toEqual([{ chatId, userId: 'alice', isTyping: true }]);
    expect(bob.items).toHaveLength(bobFrames);
    expect(errorCodes(await setTyping('bob', chatId, true))).toEqual(['FORBIDDEN']);
  });

  it('counts calls against the user’s rate limit, and writes nothing to PostgreSQL', async () => {
    const chatId = (await ok(hub.url, tokens.dave!, 'mutation { createChat(input: { name: "limits", participantIds: ["alice"] }) { id } }')).createChat.id as string;
    const written = await rowsWritten(database.url);
    const answers = await Promise.all(Array.from({ length: 100 }, () => setTyping('dave', chatId, true)));
    const limited = answers.filter((answer) => answer.status === 429 && errorCodes(answer)[0] === 'RATE_LIMITED');
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.filter((answer) => answer.data?.setTyping === true).length).toBeGreaterThan(0);
    expect(await rowsWritten(database.url)).toEqual(written);
  });

  it('refuses bad arguments with a code', async () => {
    const chatId = await newChat('bad', ['bob']);
    expect(errorCodes(await graphql(hub.url, tokens.alice!, 'mutation { setTyping(chatId: "not-a-uuid") }'))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await graphql(hub.url, tokens.alice!, `mutation { setTyping(chatId: "${chatId}", isTyping: "yes") }`))[0]).toBeDefined();
    expect(errorCodes(await graphql(hub.url, null, `mutation { setTyping(chatId: "${chatId}") }`))).toEqual(['UNAUTHENTICATED']);
  });
});

/** The frames of everyone but the prover, whose stops may still be arriving. */
function apartFrom(received: Received<Frame>): Frame[] {
  return received.items.filter((frame) => frame.userId !== PROVER);
}

/** Rows in the tables a write touches (events, outbox, read models): typing must leave them as they are. */
async function rowsWritten(databaseUrl: string): Promise<Record<string, number>> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ events: string; outbox: string; messages: string }>(
      'select (select count(*) from events) as events, (select count(*) from outbox) as outbox, (select count(*) from messages) as messages',
    );
    return Object.fromEntries(Object.entries(rows[0]!).map(([table, count]) => [table, Number(count)]));
  });
}
