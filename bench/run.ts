import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { measureBaselines, type Baselines } from './baselines';
import { measureCluster, measureOneProcess, WRITE_CLIENTS, type ClusterFigures, type OneProcessFigures, type WriteRate } from './cluster-figures';
import { measureRelayDrain, type RelayDrainFigures } from './relay-drain';

/**
 * `npm run bench`: the figures of DESIGN.md §8, each printed beside the limit measured in the same run
 * (pgbench, redis-benchmark), and a report in bench/reports/. Parley runs as separate processes started
 * from its command line; this process only drives the load. Never part of the tests.
 */
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const FANOUT = (process.env.BENCH_FANOUT ?? '1000,10000').split(',').map(Number);
const SECRET = 'parley-bench-secret-0123456789abcdef';
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 100_000);
/** `BENCH_ONLY=relay` runs one part alone. */
const ONLY = process.env.BENCH_ONLY;

async function main(): Promise<void> {
  if (ONLY === 'relay') {
    const drain = await withDatabase((url) => measureRelayDrain(url, REDIS_URL, SECRET, BACKLOG));
    process.stdout.write(`${relayLines(drain).join('\n')}\n`);
    return;
  }
  const baselines = await withDatabase(async (url) => measureBaselines(url, REDIS_URL, SECONDS));
  const single = await withDatabase((url) => measureOneProcess(url, SECRET, SECONDS));
  const cluster = await withDatabase((url) => measureCluster(url, REDIS_URL, SECRET, FANOUT, SECONDS));
  const drain = await withDatabase((url) => measureRelayDrain(url, REDIS_URL, SECRET, BACKLOG));
  report(baselines, single, cluster, drain);
}

function relayLines(drain: RelayDrainFigures): string[] {
  return [
    `## Relay: a backlog of ${drain.rows} outbox rows drained to Redis (a receiver subscribed)`,
    '',
    '| rows | seconds | events/s | relay CPU µs per event |',
    '|---|---|---|---|',
    `| ${drain.rows} | ${drain.seconds} | ${drain.eventsPerSecond} | ${drain.relayCpuMicrosPerEvent} |`,
  ];
}

async function withDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const name = `parley_bench_${Date.now()}`;
  await admin((client) => client.query(`create database ${name}`));
  const url = new URL(DATABASE_URL);
  url.pathname = `/${name}`;
  try {
    return await work(url.toString());
  } finally {
    await admin((client) => client.query(`drop database if exists ${name} with (force)`));
  }
}

async function admin(work: (client: Client) => Promise<unknown>): Promise<void> {
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

function report(baselines: Baselines, single: OneProcessFigures, cluster: ClusterFigures, drain: RelayDrainFigures): void {
  const rate = (r: WriteRate) => `${r.perSecond}/s (${r.cpuUsPerCommit ?? 'n/a'} µs)`;
  const writes = (figures: OneProcessFigures['write']) =>
    WRITE_CLIENTS.map((c) => {
      const f = figures[c]!;
      const bigToSmall = f.separateChats.perSecond > 0 ? (f.bigChats.perSecond / f.separateChats.perSecond).toFixed(2) : 'n/a';
      return `| ${c} | ${rate(f.separateChats)} | ${rate(f.oneChat)} | ${rate(f.bigChats)} | ${bigToSmall} | ${baselines.pgbenchInsertTps[c] ?? 'n/a'} |`;
    });
  const writeTable = ['| clients | own chats of 2 | one shared chat | own chats of 1000 | 1000 : 2 | pgbench one-row insert tps (limit) |', '|---|---|---|---|---|---|'];
  const latency = (l: { samples: number; p50: number; p99: number; max: number }) => `| ${l.samples} | ${l.p50} | ${l.p99} | ${l.max} |`;
  const lines = [
    `# Parley benchmark — ${new Date().toISOString()}`,
    '',
    `Machine: ${cpus().length} cores; PostgreSQL, Redis, every Parley process and this load generator share them. ${SECONDS} s per write figure.`,
    '',
    '## Write: createMessage commits per second through the HTTP API, and the writer\'s CPU per commit',
    '',
    'One process with every role (in-process bus); CPU is that process\'s:',
    '',
    ...writeTable,
    ...writes(single.write),
    '',
    'Through a sender, with a receiver and a relay running beside it (Redis between); CPU is the sender\'s:',
    '',
    ...writeTable,
    ...writes(cluster.write),
    '',
    'For the ratios against the baseline design, run `SCENARIOS=write bash ../shared/peers/side-by-side.sh`.',
    '',
    '## Delivery latency: mutation sent → WebSocket frame received by another client, one message at a time',
    '',
    '| where | samples | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|---|',
    `| one process (in-process bus) ${latency(single.delivery)}`,
    `| sender → Redis → receiver (separate processes) ${latency(cluster.delivery)}`,
    '',
    '## Fan-out: idle subscribers of one chat on one receiver, a burst of messages',
    '',
    '| subscribers | messages | frames/s | receiver CPU µs per frame | resident bytes per idle connection |',
    '|---|---|---|---|---|',
    ...cluster.fanout.map((f) => `| ${f.subscribers} | ${f.messages} | ${f.framesPerSecond} | ${f.receiverCpuUsPerFrame ?? 'n/a'} | ${f.bytesPerIdleConnection} |`),
    '',
    '## Routing: latency to one subscriber as subscribers in 100 other chats grow (flat = cost follows the audience)',
    '',
    '| subscribers in other chats | samples | p50 ms | p99 ms | max ms | receiver CPU µs per event |',
    '|---|---|---|---|---|---|',
    ...cluster.routing.map((r) => `| ${r.otherSubscribers} ${latency(r.latency)} ${r.receiverCpuUsPerEvent ?? 'n/a'} |`),
    '',
    `Redis PUBLISH limit (redis-benchmark): ${baselines.redisPublishPerSecond.plain ?? 'n/a'}/s plain, ${baselines.redisPublishPerSecond.pipelined ?? 'n/a'}/s pipelined.`,
    '',
    ...relayLines(drain),
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
