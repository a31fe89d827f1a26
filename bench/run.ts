import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { signDevelopmentToken } from '../src/infrastructure/auth/development-token';
import { loadConfig } from '../src/infrastructure/config/config';
import { createLogger } from '../src/infrastructure/logging/logger';
import { startServer, type RunningServer } from '../src/interfaces/composition/server';
import { measureBaselines, type Baselines } from './baselines';

/**
 * `npm run bench`: figures of DESIGN.md §8 that this build can produce, each printed beside the limit
 * measured in the same run, and a report in bench/reports/. Never part of the tests.
 */
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SECRET = 'parley-bench-secret-0123456789abcdef';

async function main(): Promise<void> {
  const database = await createDatabase();
  const baselines = measureBaselines(DATABASE_URL, REDIS_URL, SECONDS);
  const server = await startServer(
    loadConfig({ NODE_ENV: 'test', PORT: '0', DATABASE_URL: database.url, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', DATABASE_POOL_MAX: '40' }),
    createLogger('warn'),
  );
  try {
    const write = await measureWrites(server);
    const delivery = await measureDelivery(server);
    report({ baselines, write, delivery });
  } finally {
    await server.stop();
    await database.drop();
  }
}

interface WriteFigures {
  [clients: number]: { separateChats: number; oneChat: number };
}

async function measureWrites(server: RunningServer): Promise<WriteFigures> {
  const figures: WriteFigures = {};
  for (const clients of [1, 8, 32]) {
    const tokens = await Promise.all(Array.from({ length: clients }, (_, i) => signDevelopmentToken(SECRET, `writer-${i}`)));
    const ownChats = await Promise.all(tokens.map((token) => createChat(server, token, [])));
    const shared = await createChat(server, tokens[0]!, tokens.map((_, i) => `writer-${i}`));
    figures[clients] = {
      separateChats: await postFor(server, tokens, (i) => ownChats[i]!),
      oneChat: await postFor(server, tokens, () => shared),
    };
  }
  return figures;
}

/** Every client posts back to back for SECONDS; answers committed posts per second. */
async function postFor(server: RunningServer, tokens: string[], chatOf: (client: number) => string): Promise<number> {
  const deadline = Date.now() + SECONDS * 1000;
  const started = Date.now();
  const counts = await Promise.all(
    tokens.map(async (token, i) => {
      let posted = 0;
      while (Date.now() < deadline) {
        await gql(server, token, 'mutation($c: ID!) { createMessage(createMessageInput: { chatId: $c, content: "bench" }) { seq } }', { c: chatOf(i) });
        posted++;
      }
      return posted;
    }),
  );
  return Math.round(counts.reduce((a, b) => a + b, 0) / ((Date.now() - started) / 1000));
}

/** From sending the mutation to the subscription frame arriving at another client, one message at a time. */
async function measureDelivery(server: RunningServer): Promise<{ samples: number; p50: number; p99: number; max: number }> {
  const [sender, receiver] = await Promise.all([signDevelopmentToken(SECRET, 'sender'), signDevelopmentToken(SECRET, 'receiver')]);
  const chatId = await createChat(server, sender, ['receiver']);
  const client = createClient({ url: server.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${receiver}` }, lazy: false, retryAttempts: 0 });
  const head = (await gql(server, receiver, '{ head }')).head as string;
  const arrivals = new Map<string, number>();
  let notify: (() => void) | null = null;
  client.subscribe<{ messageAdded: { content: string } }>(
    { query: 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { content } }', variables: { c: chatId, a: head } },
    { next: (result) => { arrivals.set(result.data!.messageAdded.content, performance.now()); notify?.(); }, error: () => undefined, complete: () => undefined },
  );
  const latencies: number[] = [];
  for (let i = 0; i < 500; i++) {
    const content = `latency ${i}`;
    const sent = performance.now();
    const arrived = new Promise<void>((resolvePromise) => (notify = () => arrivals.has(content) && resolvePromise()));
    await gql(server, sender, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }', { c: chatId, t: content });
    await arrived;
    latencies.push(arrivals.get(content)! - sent);
  }
  await client.dispose();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(2));
  return { samples: latencies.length, p50: at(0.5), p99: at(0.99), max: at(1) };
}

async function createChat(server: RunningServer, token: string, participantIds: string[]): Promise<string> {
  return (await gql(server, token, 'mutation($p: [ID!]!) { createChat(input: { name: "bench", participantIds: $p }) { id } }', { p: participantIds })).createChat.id;
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

async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `parley_bench_${Date.now()}`;
  const admin = new Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new Client({ connectionString: DATABASE_URL });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

function report(figures: { baselines: Baselines; write: WriteFigures; delivery: { samples: number; p50: number; p99: number; max: number } }): void {
  const { baselines, write, delivery } = figures;
  const lines = [
    `# Parley benchmark — ${new Date().toISOString()}`,
    '',
    `Machine: ${require('node:os').cpus().length} cores; PostgreSQL and Redis on this machine; ${SECONDS} s per write figure.`,
    '',
    '## Write: createMessage commits per second through the HTTP API (one instance, all roles)',
    '',
    '| clients | separate chats | one shared chat | pgbench one-row insert tps (limit) |',
    '|---|---|---|---|',
    ...[1, 8, 32].map((c) => `| ${c} | ${write[c]!.separateChats} | ${write[c]!.oneChat} | ${baselines.pgbenchInsertTps[c] ?? 'n/a'} |`),
    '',
    '## Delivery: mutation sent → WebSocket frame received by another client (same process)',
    '',
    `| samples | p50 ms | p99 ms | max ms |`,
    '|---|---|---|---|',
    `| ${delivery.samples} | ${delivery.p50} | ${delivery.p99} | ${delivery.max} |`,
    '',
    `Redis PUBLISH limit (redis-benchmark): ${baselines.redisPublishPerSecond.plain ?? 'n/a'}/s plain, ${baselines.redisPublishPerSecond.pipelined ?? 'n/a'}/s pipelined.`,
    '',
    'Not measured yet (DESIGN.md §8): cross-instance delivery through Redis, fan-out to 1k/10k subscribers, routing cost vs. subscribers in other chats.',
  ];
  const text = lines.join('\n');
  const dir = resolve(__dirname, '../../bench/reports');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.md`);
  writeFileSync(file, `${text}\n`);
  process.stdout.write(`${text}\n\nreport: ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
