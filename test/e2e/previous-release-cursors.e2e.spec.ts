import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Client } from 'graphql-ws';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { ParleyProcess, runParley } from '../support/parley-process';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { connectClient, subscribe, type Received } from '../support/ws-client';

/** What scripts/make-previous-release-fixture.js recorded (see test/fixtures/previous-release/README.md). */
interface MessageSummary {
  chatId: string;
  messageId: string;
  seq: number;
  senderId: string;
  content: string;
}
interface ChatSummary {
  chatId: string;
  name: string;
  participantIds: string[];
}
type Summary = MessageSummary | ChatSummary;
interface RecordedSubscription {
  name: string;
  viewer: string;
  field: string;
  kind: 'message' | 'feed' | 'chat';
  query: string;
  variables: Record<string, string>;
  midCursor: string;
  endCursor: string;
  expectedAfterMid: (Summary & { oldCursor: string })[];
  expectedAfterEnd: Summary[];
}
interface FixtureChat {
  id: string;
  name: string;
  participantIds: string[];
  /** Messages it holds, seq 1..messages. */
  messages: number;
}
interface Fixture {
  release: { commit: string };
  users: Record<'alice' | 'bob' | 'carol', string>;
  chats: Record<'A' | 'B' | 'C' | 'D', FixtureChat>;
  head: { start: string; mid: string; end: string };
  subscriptions: RecordedSubscription[];
}

const FIXTURE_DIR = resolve(__dirname, '../fixtures/previous-release');
const fixture = JSON.parse(readFileSync(resolve(FIXTURE_DIR, 'cursors.json'), 'utf8')) as Fixture;
const STARTED = /Parley GraphQL: (http:\/\/\S+) \(roles: /;
const SECRET = `previous-release-${randomBytes(16).toString('hex')}`;

/** The part of a payload that every release delivers the same way: no cursors, no per-viewer counts. */
function summary(kind: RecordedSubscription['kind'], payload: any): Summary {
  if (kind === 'message') {
    return { chatId: payload.chatId, messageId: payload.id, seq: payload.seq, senderId: payload.senderId, content: payload.content };
  }
  if (kind === 'feed') {
    const m = payload.message;
    return { chatId: payload.chatId, messageId: m.id, seq: m.seq, senderId: payload.senderId, content: m.content };
  }
  return { chatId: payload.id, name: payload.name, participantIds: [...payload.participantIds].sort() };
}
const withoutCursor = ({ oldCursor: _, ...rest }: Summary & { oldCursor?: string }): Summary => rest;

/**
 * DESIGN.md §4 "Resume without gaps": a cursor that a previous release issued keeps working after an
 * upgrade. The database and the cursors come from a build of the previous release
 * (test/fixtures/previous-release, made by scripts/make-previous-release-fixture.js); the current server
 * migrates that database and resumes each recorded subscription after its cursors.
 */
describe('cursors issued by the previous release, after an upgrade', () => {
  let database: TestDatabase;
  let server: ParleyProcess;
  let url: string;
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // The dump as pg_dump wrote it; the \restrict lines (pg_dump 15.14+) are left out so that an older psql takes it too.
    const dump = readFileSync(resolve(FIXTURE_DIR, 'database.sql'), 'utf8').replace(/^\\(un)?restrict .*$/gm, '');
    const loaded = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database.url], { input: dump, encoding: 'utf8' });
    if (loaded.error || loaded.status !== 0) {
      throw new Error(`psql could not load ${FIXTURE_DIR}/database.sql: ${loaded.error?.message ?? loaded.stderr}`);
    }
    // Cursors hold PostgreSQL transaction ids (xid8), which belong to the cluster that wrote them. A
    // server of its own would go on from where the old one stopped; this test's server may be younger
    // than the fixture, so its transaction counter is moved past the dump's before anything is written.
    await withClient(database.url, async (c) => {
      const { rows } = await c.query<{ tx: string | null }>(
        'select greatest((select max(tx_id) from events), (select max(tx_id) from outbox))::text as tx',
      );
      const highest = BigInt(rows[0]!.tx ?? '0');
      for (;;) {
        const { rows: now } = await c.query<{ tx: string }>('select pg_current_xact_id()::text as tx');
        if (BigInt(now[0]!.tx) > highest) break;
      }
    });

    const env: NodeJS.ProcessEnv = {
      DATABASE_URL: database.url,
      REDIS_URL: process.env.TEST_REDIS_URL,
      REDIS_CHANNEL_PREFIX: `upgrade-${randomBytes(3).toString('hex')}:`,
      AUTH_JWT_SECRET: SECRET,
      LOG_LEVEL: 'info',
    };
    // serve migrates the old schema on start (MIGRATE_ON_START defaults to true).
    server = ParleyProcess.start(['serve', '--role', 'all', '--port', '0'], env, 'bin');
    url = (await server.waitFor(STARTED))[1]!;
    await eventually(async () => expect((await fetch(url.replace('/graphql', '/readyz'))).status).toBe(200), 30_000);
    for (const user of Object.values(fixture.users)) {
      const issued = await runParley(['token', user, '--ttl', '1h'], env);
      expect(issued.code).toBe(0);
      tokens[user] = issued.output.trim().split('\n').at(-1)!.trim();
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    await server?.stop();
    await database?.drop();
  });

  const client = (user: string) => {
    const created = connectClient(url, tokens[user]!);
    clients.push(created);
    return created;
  };

  it('serves the previous release\'s data as it left it', async () => {
    const { alice, carol } = fixture.users;
    const chats = (await ok(url, tokens[alice]!, '{ chats { id name participantIds } }')).chats as FixtureChat[];
    const shape = (chat: Omit<FixtureChat, 'messages'>) => ({ id: chat.id, name: chat.name, participantIds: [...chat.participantIds].sort() });
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    expect(chats.map(shape).sort(byId)).toEqual(
      Object.values(fixture.chats).filter((chat) => chat.participantIds.includes(alice)).map(shape).sort(byId),
    );
    for (const chat of Object.values(fixture.chats).filter((c) => c.participantIds.includes(carol))) {
      const page = (await ok(url, tokens[carol]!, 'query($c: ID!) { messages(chatId: $c, limit: 200) { messages { seq } } }', { c: chat.id })).messages;
      expect(page.messages.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: chat.messages }, (_, i) => i + 1));
    }
  });

  it('resumes every subscription after its old cursors: after a mid cursor exactly what followed it, after an end cursor or the old head only what is new', async () => {
    const subscriptions = fixture.subscriptions;
    expect(subscriptions.length).toBeGreaterThan(0);
    const open = (recorded: RecordedSubscription, after: string): Received =>
      subscribe(client(recorded.viewer), recorded.query, { ...recorded.variables, after });
    const resumed = subscriptions.map((recorded) => ({
      recorded,
      afterMid: open(recorded, recorded.midCursor),
      afterEnd: open(recorded, recorded.endCursor),
      // Query.head of the old release at the same two moments: a global position, like the cursors.
      afterMidHead: open(recorded, fixture.head.mid),
      afterEndHead: open(recorded, fixture.head.end),
    }));

    // Everything that followed the mid cursor arrives (checked in full below, with what is new).
    for (const { recorded, afterMid, afterMidHead } of resumed) {
      for (const received of [afterMid, afterMidHead]) {
        await received.count(recorded.expectedAfterMid.length);
        named(recorded.name, () => expect(received.errors).toEqual([]));
      }
    }

    // New activity after the upgrade, in every chat of the fixture and of each kind: an event of a chat
    // comes after that chat's old events, so once it has arrived, a repeat or an extra payload of that
    // chat would have come before it.
    const { alice, bob } = fixture.users;
    const { A, B, C, D } = fixture.chats;
    const posts: (MessageSummary & { participantIds: string[] })[] = [];
    const post = async (chat: FixtureChat, sender: string) => {
      const content = `after the upgrade: ${sender} in ${chat.name}`;
      const { createMessage } = await ok(url, tokens[sender]!, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id seq } }', {
        c: chat.id,
        t: content,
      });
      expect(createMessage.seq).toBe(chat.messages + 1);
      posts.push({ chatId: chat.id, messageId: createMessage.id, seq: createMessage.seq, senderId: sender, content, participantIds: chat.participantIds });
    };
    await post(A, bob);
    await post(B, alice);
    await post(C, bob);
    await post(D, bob);
    const newChat = (await ok(url, tokens[bob]!, `mutation($a: ID!) { createChat(input: { name: "Chat E", participantIds: [$a] }) { id } }`, { a: alice })).createChat;
    const renamed: ChatSummary[] = [];
    for (const [chat, by] of [[A, alice], [D, bob]] as const) {
      const name = `${chat.name} (after the upgrade)`;
      await ok(url, tokens[by]!, 'mutation($c: ID!, $n: String!) { updateChat(input: { chatId: $c, name: $n }) { id } }', { c: chat.id, n: name });
      renamed.push({ chatId: chat.id, name, participantIds: chat.participantIds });
    }
    const chatEvents: Record<string, ChatSummary[]> = {
      chatAdded: [{ chatId: newChat.id, name: 'Chat E', participantIds: [alice, bob].sort() }],
      chatUpdated: renamed,
    };
    /** What a subscription gets of the new activity, as the contract routes it. */
    const newFor = (recorded: RecordedSubscription): Summary[] => {
      if (recorded.kind === 'chat') {
        return (chatEvents[recorded.field] ?? []).filter((chat) => chat.participantIds.includes(recorded.viewer));
      }
      return posts
        .filter((p) => p.participantIds.includes(recorded.viewer))
        .filter((p) => (recorded.kind === 'message' ? p.chatId === recorded.variables.chatId : p.senderId !== recorded.viewer))
        .map(({ participantIds: _, ...p }) => p);
    };

    for (const { recorded, afterMid, afterEnd, afterMidHead, afterEndHead } of resumed) {
      const fresh = newFor(recorded);
      named(`${recorded.name} gets something of the new activity`, () => expect(fresh.length).toBeGreaterThan(0));
      const old = recorded.expectedAfterMid.map(withoutCursor);
      const cases: [string, Received, Summary[]][] = [
        ['after its mid cursor', afterMid, [...old, ...fresh]],
        ['after the mid head', afterMidHead, [...old, ...fresh]],
        ['after its end cursor', afterEnd, [...recorded.expectedAfterEnd, ...fresh]],
        ['after the end head', afterEndHead, [...recorded.expectedAfterEnd, ...fresh]],
      ];
      for (const [what, received, expected] of cases) {
        await received.count(expected.length);
        const got = received.items.map((item) => summary(recorded.kind, item));
        named(`${recorded.name} ${what}`, () => {
          expect(received.errors).toEqual([]);
          // A chat-scoped kind keeps commit order; a user-scoped one keeps each chat's commit order and
          // may interleave chats of different partitions as they arrive (DESIGN.md §4).
          if (recorded.kind === 'message') expect(got).toEqual(expected);
          else expect(byChat(got)).toEqual(byChat(expected));
          // Whatever the new release issues is a cursor a client can resume with.
          for (const item of received.items) expect(typeof item.cursor).toBe('string');
        });
      }
    }
  }, 90_000);
});

/** Runs assertions with the subscription's name at the head of a failure. */
function named(name: string, assertions: () => void): void {
  try {
    assertions();
  } catch (error) {
    if (error instanceof Error) error.message = `${name}:\n${error.message}`;
    throw error;
  }
}

/** Each chat's payloads in the order they came. */
function byChat(payloads: Summary[]): Record<string, Summary[]> {
  const chats: Record<string, Summary[]> = {};
  for (const payload of payloads) (chats[payload.chatId] ??= []).push(payload);
  return chats;
}
