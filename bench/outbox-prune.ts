import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { signDevelopmentToken } from '../src/infrastructure/auth/development-token';
import { loadConfig } from '../src/infrastructure/config/config';
import { createLogger } from '../src/infrastructure/logging/logger';
import { asTheOnlyPruner, pruneOutbox } from '../src/infrastructure/relay/outbox-prune';
import { startServer, type RunningServer } from '../src/interfaces/composition/server';

const SECRET = 'parley-bench-secret-0123456789abcdef';
const WRITERS = 8;
const SECONDS = 8;
const BACKLOG = 200_000;
const DAY = 86_400_000;
/** The background pruner's pause between batches of 1000. */
const PAUSE_MS = 10;

/**
 * The outbox pruner's cost on the write rate (OUTBOX_RETENTION): `createMessage` commits per second from
 * 8 concurrent clients over HTTP, in-process server on a database of its own, alone and while the pruner
 * deletes a backlog of 200k old published rows (with its 10 ms pause between batches of 1000). Run: `npx tsc -p tsconfig.build.json && node dist/bench/outbox-prune.js [postgres-url]`.
 */
async function main(): Promise<void> {
  const admin = process.argv[2] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const name = `parley_bench_prune_${randomBytes(4).toString('hex')}`;
  await sql(admin, `create database ${name}`);
  const url = admin.replace(/\/[^/]*$/, `/${name}`);
  const config = loadConfig({ DATABASE_URL: url, PORT: '0', AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'silent', HTTP_OPERATIONS_PER_SECOND: '1000000' });
  const server = await startServer(config, createLogger(config));
  try {
    const token = await signDevelopmentToken(SECRET, 'alice', '1h');
    const chats: string[] = [];
    for (let i = 0; i < WRITERS; i++) chats.push((await gql(server, token, 'mutation { createChat(input: { name: "b", participantIds: ["bob"] }) { id } }')).createChat.id);

    // The backlog comes first in relay order, as old rows do: the pruner stops at a partition's first young row.
    await backlog(url, chats);
    // The relay publishes the backlog (empty payloads) first: only published rows may be pruned.
    await server.realtime.relay!.whenCaughtUp(600_000);
    // The chats' own first rows are as old as the backlog, as a deployment's oldest rows are.
    await sql(url, `update outbox set created_at = now() - interval '40 days'`);
    const alone = await writeRate(server, token, chats);
    console.log(`writes/s without pruning: ${alone.toFixed(0)}`);
    const started = Date.now();
    let finishedAt = 0;
    const pruning = asTheOnlyPruner(server.database.orm, url, { connectTimeoutMs: 5000, statementTimeoutMs: null }, (query) =>
      pruneOutbox(query, { retentionMs: 30 * DAY, now: new Date(), pauseMs: PAUSE_MS }),
    ).then((summary) => {
      finishedAt = Date.now();
      return summary;
    });
    // Writes are counted for as long as the pruner runs, so that the rate is the one beside it.
    const rate = await writeRate(server, token, chats, pruning);
    const summary = await pruning;
    const pruneSeconds = (finishedAt - started) / 1000;
    console.log(
      `writes/s while pruning: ${rate.toFixed(0)} (${((rate / alone) * 100).toFixed(0)} % of alone); ` +
        `pruned ${summary!.deleted} rows in ${pruneSeconds.toFixed(1)} s (${(summary!.deleted / pruneSeconds).toFixed(0)} rows/s)`,
    );
  } finally {
    await server.stop();
    await sql(admin, `drop database ${name} with (force)`);
  }
}

/** Commits per second of `createMessage`, WRITERS clients each posting to its own chat, for SECONDS or until `during` settles. */
async function writeRate(server: RunningServer, token: string, chats: string[], during?: Promise<unknown>): Promise<number> {
  const started = Date.now();
  const until = started + SECONDS * 1000;
  let done = false;
  void during?.then(() => (done = true));
  let commits = 0;
  await Promise.all(chats.map(async (chatId) => {
    while (during ? !done : Date.now() < until) {
      await gql(server, token, 'mutation($c: ID!) { createMessage(createMessageInput: { chatId: $c, content: "x" }) { seq } }', { c: chatId });
      commits++;
    }
  }));
  return commits / ((Date.now() - started) / 1000);
}

/** BACKLOG rows written 40 days ago over the chats, with empty payloads (the relay publishes nothing for them). */
async function backlog(url: string, chats: string[]): Promise<void> {
  await sql(url, `insert into outbox (chat_id, partition, payload, created_at)
    select c.id, c.partition, '[]'::jsonb, now() - interval '40 days'
    from generate_series(1, ${BACKLOG}) g join chats c on c.id = ($1::uuid[])[1 + g % ${chats.length}]`, [`{${chats.join(',')}}`]);
}

async function gql(server: RunningServer, token: string, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function sql(url: string, text: string, params: unknown[] = []): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text, params);
  } finally {
    await client.end();
  }
}

void main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
