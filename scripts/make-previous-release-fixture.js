#!/usr/bin/env node
'use strict';
/**
 * Makes test/fixtures/previous-release: a database written by a build of a previous Parley release and
 * the subscription cursors that release issued over it, for the upgrade test
 * (test/e2e/previous-release-cursors.e2e.spec.ts, DESIGN.md §4 "Resume without gaps": a cursor that a
 * previous release issued keeps working after an upgrade).
 *
 *   node scripts/make-previous-release-fixture.js <built previous release> [--commit <id>] [--out <dir>]
 *
 * The release folder is a checkout of the previous release with node_modules and `npm run build` done
 * (bin/parley.js and dist/). Its commit id is read with git, or given with --commit (e.g. for a
 * `git archive` copy). Uses the local PostgreSQL (postgres@127.0.0.1:5432, trust auth, or
 * FIXTURE_POSTGRES_URL) with pg_dump on the PATH, and the local Redis (127.0.0.1:6379, or FIXTURE_REDIS_URL).
 *
 * What it does: creates a fresh database, starts the old server on it (`serve --role all`), and through
 * its GraphQL API creates users' chats, posts, marks reads, renames chats and adds and removes a
 * participant, while graphql-ws subscriptions on the old server record what they receive. Halfway it
 * records each subscription's last cursor (mid), at the end its last cursor again (end), and `head`
 * both times. What each subscription received after its mid cursor is what a resume `after: mid` must
 * deliver on any correct server. Before writing anything it checks, on the old server itself, that a
 * resume after each mid cursor delivers exactly that. Then it stops the server, dumps the database
 * (plain SQL) to database.sql, writes cursors.json and drops the database.
 */
const { spawn, execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { existsSync, mkdirSync, writeFileSync, statSync } = require('node:fs');
const { resolve, join } = require('node:path');
const { Client: PgClient } = require('pg');
const { createClient } = require('graphql-ws');
const WebSocket = require('ws');

const ROOT = resolve(__dirname, '..');
const ADMIN_URL = process.env.FIXTURE_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.FIXTURE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const WAIT_MS = 20_000;

const MESSAGE = 'id chatId senderId content seq cursor';
const FEED_ITEM = `chatId senderId message { ${MESSAGE} } cursor`;
const CHAT = 'id name participantIds createdBy cursor';

/** The recorded subscriptions: what an upgraded server must resume. `chatA` is filled in once it exists. */
const SUBSCRIPTIONS = [
  { name: 'alice.messageAdded(chatA)', viewer: 'alice', field: 'messageAdded', kind: 'message', chatScoped: true },
  { name: 'alice.chatMessageNotification', viewer: 'alice', field: 'chatMessageNotification', kind: 'feed' },
  { name: 'alice.messageUpdateForChatList', viewer: 'alice', field: 'messageUpdateForChatList', kind: 'feed' },
  { name: 'alice.chatAdded', viewer: 'alice', field: 'chatAdded', kind: 'chat' },
  { name: 'alice.chatUpdated', viewer: 'alice', field: 'chatUpdated', kind: 'chat' },
  { name: 'carol.chatMessageNotification', viewer: 'carol', field: 'chatMessageNotification', kind: 'feed' },
];

function queryOf(sub) {
  const selection = sub.kind === 'message' ? MESSAGE : sub.kind === 'feed' ? FEED_ITEM : CHAT;
  return sub.chatScoped
    ? `subscription($chatId: ID!, $after: String) { ${sub.field}(chatId: $chatId, after: $after) { ${selection} } }`
    : `subscription($after: String) { ${sub.field}(after: $after) { ${selection} } }`;
}

/** The part of a payload that any correct server delivers the same way (cursors differ between releases). */
function summary(sub, payload) {
  if (sub.kind === 'message') {
    return { chatId: payload.chatId, messageId: payload.id, seq: payload.seq, senderId: payload.senderId, content: payload.content };
  }
  if (sub.kind === 'feed') {
    const m = payload.message;
    return { chatId: payload.chatId, messageId: m.id, seq: m.seq, senderId: payload.senderId, content: m.content };
  }
  return { chatId: payload.id, name: payload.name, participantIds: [...payload.participantIds].sort() };
}

function parseArgs(argv) {
  const args = { release: null, commit: null, out: join(ROOT, 'test/fixtures/previous-release') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--commit') args.commit = argv[++i];
    else if (argv[i] === '--out') args.out = resolve(argv[++i]);
    else if (!args.release) args.release = resolve(argv[i]);
    else throw new Error(`unexpected argument ${argv[i]}`);
  }
  if (!args.release) {
    throw new Error('usage: node scripts/make-previous-release-fixture.js <built previous release> [--commit <id>] [--out <dir>]');
  }
  if (!existsSync(join(args.release, 'bin/parley.js')) || !existsSync(join(args.release, 'dist/src/main.js'))) {
    throw new Error(`${args.release} is not a built Parley (no bin/parley.js or dist/src/main.js; run npm run build there)`);
  }
  if (!args.commit) {
    try {
      args.commit = execFileSync('git', ['-C', args.release, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      throw new Error(`${args.release} is not a git checkout: name its commit with --commit`);
    }
  }
  return args;
}

async function withPg(url, work) {
  const client = new PgClient({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function databaseUrl(name) {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A process of the old release, its output kept for waiting on and for failure messages. */
function startOld(release, args, env) {
  const child = spawn(process.execPath, [join(release, 'bin/parley.js'), ...args], {
    cwd: release,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = { child, output: '', waiters: [] };
  const collect = (chunk) => {
    proc.output += chunk.toString('utf8');
    for (const waiter of [...proc.waiters]) {
      const match = proc.output.match(waiter.pattern);
      if (match) {
        proc.waiters.splice(proc.waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  proc.exited = new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit(code ?? signal)));
  proc.waitFor = (pattern) => {
    const match = proc.output.match(pattern);
    if (match) return Promise.resolve(match);
    return new Promise((resolveMatch, reject) => {
      proc.waiters.push({ pattern, resolve: resolveMatch });
      void proc.exited.then((code) => reject(new Error(`old parley exited (${code}) before printing ${pattern}:\n${proc.output}`)));
    });
  };
  proc.stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return proc.exited;
  };
  return proc;
}

function cleanEnv() {
  const base = { ...process.env };
  for (const key of ['DATABASE_URL', 'REDIS_URL', 'REDIS_CLUSTER_URLS', 'AUTH_JWT_SECRET', 'AUTH_JWKS_URL', 'PORT', 'ROLE', 'DATA_DIR']) {
    delete base[key];
  }
  return base;
}

async function runOld(release, args, env) {
  const proc = startOld(release, args, env);
  const code = await proc.exited;
  if (code !== 0) throw new Error(`old parley ${args.join(' ')} exited ${code}:\n${proc.output}`);
  return proc.output;
}

async function until(test, what, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    if (await test()) return;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, Math.min(100, 5 * 2 ** attempt)));
  }
}

/** A subscription on the old server and what it received, in order. */
function record(client, sub, variables) {
  const received = { items: [], errors: [], sub };
  client.subscribe(
    { query: queryOf(sub), variables },
    {
      next: (result) => {
        if (result.errors) received.errors.push(result.errors);
        else received.items.push(result.data[sub.field]);
      },
      error: (error) => received.errors.push(String(error?.message ?? JSON.stringify(error))),
      complete: () => undefined,
    },
  );
  return received;
}

function connect(httpUrl, token) {
  return createClient({
    url: httpUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => undefined,
    connectionParams: { authorization: `Bearer ${token}` },
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const dbName = `parley_fixture_${randomBytes(5).toString('hex')}`;
  const dbUrl = databaseUrl(dbName);
  const env = {
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATABASE_URL: dbUrl,
    REDIS_URL,
    AUTH_JWT_SECRET: `fixture-${randomBytes(24).toString('hex')}`,
    REDIS_CHANNEL_PREFIX: `fixture-${randomBytes(4).toString('hex')}:`,
  };
  console.log(`previous release ${args.commit} at ${args.release}; database ${dbName}`);
  await withPg(ADMIN_URL, (c) => c.query(`create database ${dbName}`));
  let server = null;
  const clients = [];
  try {
    server = startOld(args.release, ['serve', '--role', 'all', '--port', '0'], env);
    const [, url] = await server.waitFor(/Parley GraphQL: (http:\/\/\S+) \(roles: /);
    await until(async () => (await fetch(url.replace('/graphql', '/readyz'))).status === 200, 'the old server to be ready');

    const users = ['alice', 'bob', 'carol'];
    const tokens = {};
    for (const user of users) {
      const output = await runOld(args.release, ['token', user, '--ttl', '24h'], env);
      tokens[user] = output.trim().split('\n').at(-1).trim();
    }

    const gql = async (user, query, variables = {}) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[user]}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = await response.json();
      if (body.errors?.length || !body.data) throw new Error(`${query} as ${user}: ${response.status} ${JSON.stringify(body.errors)}`);
      return body.data;
    };
    const head = async () => (await gql('bob', '{ head }')).head;

    // The model: what each subscription must receive, built from the activity as the contract says
    // (posts to the other participants at the time of the post; chatAdded to who is in the new or
    // joined chat; chatUpdated to who is in the chat, and to who was just removed).
    const expected = new Map(SUBSCRIPTIONS.map((s) => [s.name, []]));
    const chats = {}; // label -> { id, name, participants }
    const messagesByChat = {}; // label -> [{ id, seq, senderId }]
    const expect = (predicate, item) => {
      for (const s of SUBSCRIPTIONS) if (predicate(s)) expected.get(s.name).push(item);
    };
    const chatItem = (chat) => ({ chatId: chat.id, name: chat.name, participantIds: [...chat.participants].sort() });

    const createChat = async (label, creator, name, others) => {
      const { createChat: chat } = await gql(creator, 'mutation($i: CreateChatInput!) { createChat(input: $i) { id name participantIds } }', {
        i: { name, participantIds: others },
      });
      chats[label] = { id: chat.id, name, participants: [creator, ...others] };
      messagesByChat[label] = [];
      expect((s) => s.field === 'chatAdded' && chats[label].participants.includes(s.viewer), chatItem(chats[label]));
      return chat;
    };
    const post = async (label, sender) => {
      const chat = chats[label];
      const content = `${label} #${messagesByChat[label].length + 1} from ${sender}`;
      const { createMessage: m } = await gql(sender, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { id seq } }', {
        c: chat.id,
        t: content,
      });
      messagesByChat[label].push({ id: m.id, seq: m.seq, senderId: sender });
      const item = { chatId: chat.id, messageId: m.id, seq: m.seq, senderId: sender, content };
      expect((s) => s.kind === 'message' && s.chatLabel === label && chat.participants.includes(s.viewer), item);
      expect((s) => s.kind === 'feed' && s.viewer !== sender && chat.participants.includes(s.viewer), item);
    };
    const round = async (labels) => {
      // Within a chat the senders take turns.
      for (const label of labels) {
        const participants = chats[label].participants;
        await post(label, participants[messagesByChat[label].length % participants.length]);
      }
    };
    const markRead = async (label, reader) => {
      const latest = messagesByChat[label].filter((m) => m.senderId !== reader).at(-1);
      await gql(reader, 'mutation($m: ID!) { markMessageAsRead(messageId: $m) { readAt } }', { m: latest.id });
    };
    const updateChat = async (label, by, input) => {
      const chat = chats[label];
      await gql(by, 'mutation($i: UpdateChatInput!) { updateChat(input: $i) { id name participantIds } }', { i: { chatId: chat.id, ...input } });
      const before = [...chat.participants];
      if (input.name) chat.name = input.name;
      const added = input.addParticipantIds ?? [];
      const removed = input.removeParticipantIds ?? [];
      chat.participants = [...chat.participants.filter((p) => !removed.includes(p)), ...added.filter((p) => !before.includes(p))];
      const item = chatItem(chat);
      if (input.name) expect((s) => s.field === 'chatUpdated' && chat.participants.includes(s.viewer), item);
      if (added.length) {
        expect((s) => s.field === 'chatAdded' && added.includes(s.viewer), item);
        expect((s) => s.field === 'chatUpdated' && before.includes(s.viewer) && !removed.includes(s.viewer), item);
      }
      if (removed.length) expect((s) => s.field === 'chatUpdated' && (chat.participants.includes(s.viewer) || removed.includes(s.viewer)), item);
    };

    const head0 = await head();
    await createChat('A', 'alice', 'Chat A', ['bob']);
    for (const s of SUBSCRIPTIONS) if (s.chatScoped) s.chatLabel = 'A';
    const clientOf = {};
    for (const user of ['alice', 'carol']) {
      clientOf[user] = connect(url, tokens[user]);
      clients.push(clientOf[user]);
    }
    // after: the head before the first chat, so that the subscriptions miss nothing while they start.
    const live = SUBSCRIPTIONS.map((s) =>
      record(clientOf[s.viewer], s, s.chatScoped ? { chatId: chats[s.chatLabel].id, after: head0 } : { after: head0 }),
    );

    const settle = async (phase) => {
      for (const r of live) {
        const want = expected.get(r.sub.name);
        await until(() => r.items.length >= want.length || r.errors.length > 0, `${r.sub.name} to receive ${want.length} payloads (${phase})`).catch(
          (error) => {
            throw new Error(`${error.message}; got ${JSON.stringify(r.items.map((i) => summary(r.sub, i)))}`);
          },
        );
        if (r.errors.length) throw new Error(`${r.sub.name}: ${JSON.stringify(r.errors)}`);
        const got = r.items.map((i) => summary(r.sub, i));
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(`${r.sub.name} (${phase}) received\n${JSON.stringify(got, null, 1)}\nexpected\n${JSON.stringify(want, null, 1)}`);
        }
      }
      return Object.fromEntries(live.map((r) => [r.sub.name, r.items.length]));
    };

    // First half: three chats, four rounds of posts, reads, a rename, carol joins chat A.
    await createChat('B', 'alice', 'Chat B', ['carol']);
    await createChat('C', 'bob', 'Chat C', ['carol']);
    await round(['A', 'B', 'C']);
    await round(['B', 'C', 'A']);
    await markRead('A', 'bob');
    await markRead('B', 'carol');
    await updateChat('B', 'alice', { name: 'Chat B (renamed)' });
    await updateChat('A', 'alice', { addParticipantIds: ['carol'] });
    await round(['C', 'A', 'B']);
    await markRead('C', 'bob');
    await round(['A', 'B', 'C']);
    await markRead('A', 'alice');

    const midCounts = await settle('mid');
    const midHead = await head();
    const mid = Object.fromEntries(live.map((r) => [r.sub.name, r.items.at(-1).cursor]));
    console.log(`mid point: head ${midHead}`);

    // Second half: a fourth chat, carol leaves chat A, more posts, reads and a rename.
    await createChat('D', 'bob', 'Chat D', ['alice', 'carol']);
    await round(['A', 'D', 'B', 'D', 'C', 'D']);
    await markRead('D', 'carol');
    await updateChat('A', 'alice', { removeParticipantIds: ['carol'] });
    await round(['D', 'C', 'D', 'A', 'D', 'B']);
    await updateChat('D', 'bob', { name: 'Chat D (renamed)' });
    await markRead('B', 'alice');
    await markRead('D', 'alice');

    const endCounts = await settle('end');
    const endHead = await head();
    const end = Object.fromEntries(live.map((r) => [r.sub.name, r.items.at(-1).cursor]));
    console.log(`end: head ${endHead}`);

    // The old release itself resumes after each mid cursor, and after the mid head, with exactly what
    // its live subscription got after that point.
    for (const r of live) {
      const s = r.sub;
      for (const after of [mid[s.name], midHead]) {
        const resumeClient = connect(url, tokens[s.viewer]);
        clients.push(resumeClient);
        const variables = s.chatScoped ? { chatId: chats[s.chatLabel].id, after } : { after };
        const resumed = record(resumeClient, s, variables);
        const want = r.items.slice(midCounts[s.name]).map((i) => summary(s, i));
        await until(() => resumed.items.length >= want.length || resumed.errors.length > 0, `the old release to resume ${s.name} after ${after}`);
        const got = resumed.items.map((i) => summary(s, i));
        if (resumed.errors.length || JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(`the old release resumed ${s.name} after ${after} with ${JSON.stringify(got)} ${JSON.stringify(resumed.errors)}, not ${JSON.stringify(want)}`);
        }
      }
    }
    for (const r of live) {
      if (r.items.length !== endCounts[r.sub.name] || r.errors.length) throw new Error(`${r.sub.name} received more than the activity explains`);
    }

    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    const code = await server.stop();
    server = null;
    if (code !== 0) console.warn(`the old server exited with ${code}`);

    mkdirSync(args.out, { recursive: true });
    const dumpPath = join(args.out, 'database.sql');
    execFileSync('pg_dump', ['--no-owner', '--no-privileges', '--format=plain', `--file=${dumpPath}`, `--dbname=${dbUrl}`], { stdio: 'inherit' });
    const maxTxId = await withPg(dbUrl, async (c) => (await c.query('select max(tx_id)::text as tx from events')).rows[0].tx);

    const fixture = {
      description:
        'Cursors issued by a build of the previous Parley release over database.sql. A resume `after` a mid cursor must deliver exactly expectedAfterMid, in order; after an end cursor, nothing of this history. Payload summaries leave out cursors and per-viewer fields (unreadCount), which a new release may issue differently.',
      release: { commit: args.commit, cursorForm: '<txid>.<event position>: one global position for every kind (single relay)' },
      generatedAt: new Date().toISOString(),
      generatedBy: 'scripts/make-previous-release-fixture.js',
      maxEventTxId: maxTxId,
      users: { alice: 'alice', bob: 'bob', carol: 'carol' },
      chats: Object.fromEntries(
        Object.entries(chats).map(([label, chat]) => [label, { id: chat.id, name: chat.name, participantIds: [...chat.participants].sort(), messages: messagesByChat[label].length }]),
      ),
      head: { start: head0, mid: midHead, end: endHead },
      subscriptions: live.map((r) => {
        const s = r.sub;
        const all = r.items.map((i) => ({ ...summary(s, i), oldCursor: i.cursor }));
        return {
          name: s.name,
          viewer: s.viewer,
          field: s.field,
          kind: s.kind,
          query: queryOf(s),
          variables: s.chatScoped ? { chatId: chats[s.chatLabel].id } : {},
          subscribedAfter: head0,
          midCursor: mid[s.name],
          endCursor: end[s.name],
          receivedBeforeMid: all.slice(0, midCounts[s.name]),
          expectedAfterMid: all.slice(midCounts[s.name]),
          expectedAfterEnd: [],
        };
      }),
    };
    writeFileSync(join(args.out, 'cursors.json'), `${JSON.stringify(fixture, null, 2)}\n`);
    console.log(`wrote ${dumpPath} (${statSync(dumpPath).size} bytes) and cursors.json`);
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    if (server) {
      await server.stop();
      if (process.exitCode) console.error(server.output);
    }
    await withPg(ADMIN_URL, (c) => c.query(`drop database if exists ${dbName} with (force)`));
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
});
