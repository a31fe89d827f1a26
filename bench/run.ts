import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { measureBaselines, type Baselines } from './baselines';
import { measureCluster, measureOneProcess, PEAK_CLIENTS, WRITE_CLIENTS, type ClusterFigures, type LatencyFigures, type OneProcessFigures, type WriteRate } from './cluster-figures';
import { measureInterestSpread, type SpreadFigures } from './interest-spread';
import { measureReceiverFloor, type ReceiverFloorFigures } from './receiver-floor';
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
const SPREAD = {
  users: Number(process.env.BENCH_SPREAD_USERS ?? 30),
  chats: Number(process.env.BENCH_SPREAD_CHATS ?? 30),
  receivers: Number(process.env.BENCH_SPREAD_RECEIVERS ?? 3),
  posts: Number(process.env.BENCH_SPREAD_POSTS ?? 3000),
};
/**
 * `BENCH_ONLY=<part>` runs one part alone and prints its section: `relay` (the drain with 1 and 2
 * relays), `lock` (the append lock at the 32-client write peak), `delivery` (latency by subscription
 * kind through Redis), `spread` (users spread over receivers, what each hears), `floor` (the receiver's
 * CPU per event with one subscriber beside the least any process spends per event).
 */
const ONLY = process.env.BENCH_ONLY;

async function main(): Promise<void> {
  if (ONLY !== undefined && ONLY !== '') {
    const parts: Record<string, () => Promise<string[]>> = {
      relay: async () => relayLines(await relayDrains()),
      lock: async () => appendLockLines(await withDatabase((url) => measureCluster(url, REDIS_URL, SECRET, FANOUT, SECONDS, 'lock'))),
      delivery: async () => [...DELIVERY_HEADER, ...clusterDeliveryLines(await withDatabase((url) => measureCluster(url, REDIS_URL, SECRET, FANOUT, SECONDS, 'delivery')))],
      spread: async () => spreadLines(await withDatabase((url) => measureInterestSpread(url, REDIS_URL, SECRET, SPREAD))),
      floor: async () => floorLines(await withDatabase((url) => measureReceiverFloor(url, REDIS_URL, SECRET))),
    };
    const part = parts[ONLY];
    if (!part) throw new Error(`BENCH_ONLY=${ONLY}: choose one of ${Object.keys(parts).join(', ')}`);
    process.stdout.write(`${(await part()).join('\n')}\n`);
    return;
  }
  const baselines = await withDatabase(async (url) => measureBaselines(url, REDIS_URL, SECONDS));
  const single = await withDatabase((url) => measureOneProcess(url, SECRET, SECONDS));
  const cluster = await withDatabase((url) => measureCluster(url, REDIS_URL, SECRET, FANOUT, SECONDS));
  const floor = await withDatabase((url) => measureReceiverFloor(url, REDIS_URL, SECRET));
  const spread = await withDatabase((url) => measureInterestSpread(url, REDIS_URL, SECRET, SPREAD));
  const drains = await relayDrains();
  report(baselines, single, cluster, floor, spread, drains);
}

function floorLines(f: ReceiverFloorFigures): string[] {
  const ratio = f.receiverCpuUsPerEvent !== null && f.floorCpuUsPerEvent ? (f.receiverCpuUsPerEvent / f.floorCpuUsPerEvent).toFixed(2) : 'n/a';
  return [
    `## Receiver CPU per event with one subscriber, beside the floor (${f.rate} events/s, ${f.windows} windows of ${f.seconds} s each, in turns)`,
    '',
    'The floor is a process that only hears one Redis message per event and writes one frame to one socket',
    '(bench/forwarder.ts): what any receiver spends at the least. Both are CPU per event including idle time, as the side-by-side driver reads it.',
    '',
    '| receiver µs per event | floor µs per event | receiver : floor |',
    '|---|---|---|',
    `| ${f.receiverCpuUsPerEvent ?? 'n/a'} | ${f.floorCpuUsPerEvent ?? 'n/a'} | ${ratio} |`,
  ];
}

/** One relay, then two, each on a database of its own, so that both drain the same backlog from the start. */
async function relayDrains(): Promise<RelayDrainFigures[]> {
  const drains: RelayDrainFigures[] = [];
  for (const relays of [1, 2]) drains.push(await withDatabase((url) => measureRelayDrain(url, REDIS_URL, SECRET, BACKLOG, relays)));
  return drains;
}

function relayLines(drains: RelayDrainFigures[]): string[] {
  const one = drains.find((d) => d.relays === 1);
  const ratio = (d: RelayDrainFigures) => (one && d !== one ? (d.eventsPerSecond / one.eventsPerSecond).toFixed(2) : '1');
  const first = drains[0]!;
  return [
    `## Relay: a backlog of ${first.rows} outbox rows over ${first.chats} chats drained to Redis, with 1 and with 2 relay processes`,
    '',
    'A receiver follows every one of the chats (a graphql-ws client subscribed to `messageAdded` of each). The relays share the',
    'partitions out before the backlog commits; the clock runs from its commit until the relays together have published it.',
    'CPU is every relay process\'s together.',
    '',
    '| relays | partitions led | rows published by each | seconds | events/s | : 1 relay | relay CPU µs per event | rows the receiver had heard by then |',
    '|---|---|---|---|---|---|---|---|',
    ...drains.map(
      (d) =>
        `| ${d.relays} | ${d.shares.map((s) => s.partitionsLed).join(' + ')} | ${d.shares.map((s) => s.rows).join(' + ')} | ${d.seconds} | ${d.eventsPerSecond} | ${ratio(d)} | ${d.relayCpuMicrosPerEvent} | ${d.receiverHeard} |`,
    ),
  ];
}

function appendLockLines(cluster: ClusterFigures): string[] {
  const peak = cluster.write[PEAK_CLIENTS];
  const row = (name: string, rate: WriteRate | undefined) => {
    const l = rate?.appendLock;
    return l
      ? `| ${name} | ${rate!.perSecond} | ${l.batchesPerSecond} | ${l.commandsPerBatch} | ${l.waitMeanMs} | ${bound(l.waitP99Ms)} | ${l.holdMeanMs} | ${bound(l.holdP99Ms)} |`
      : `| ${name} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |`;
  };
  return [
    `## Append lock at the write peak: ${PEAK_CLIENTS} clients through a sender, per write batch (DESIGN.md §3 "Commit order")`,
    '',
    'Wait: from the batch\'s first statement reaching PostgreSQL to the lock granted (server clock). Hold: from the lock granted to',
    'the commit answered. p99 is the upper bound of the histogram bucket that holds it.',
    '',
    '| chats | commits/s | batches/s | posts per batch | wait mean ms | wait p99 ms | hold mean ms | hold p99 ms |',
    '|---|---|---|---|---|---|---|---|',
    row('own chats of 2', peak?.separateChats),
    row('one shared chat', peak?.oneChat),
    row('own chats of 1000', peak?.bigChats),
  ];
}

function bound(ms: number): string {
  return Number.isFinite(ms) ? `≤ ${ms}` : '> 1000';
}

function latency(l: LatencyFigures): string {
  return `| ${l.samples} | ${l.p50} | ${l.p99} | ${l.max} |`;
}

const DELIVERY_HEADER = [
  '## Delivery latency: mutation sent → WebSocket frame received by another client, one message at a time',
  '',
  '| where | samples | p50 ms | p99 ms | max ms |',
  '|---|---|---|---|---|',
];

function clusterDeliveryLines(cluster: ClusterFigures): string[] {
  return [
    `| sender → Redis → receiver, \`messageAdded\` (chat-scoped) ${latency(cluster.delivery.messageAdded)}`,
    `| the same posts, \`chatMessageNotification\` (user-scoped, a participant who did not send) ${latency(cluster.delivery.chatMessageNotification)}`,
  ];
}

function spreadLines(spread: SpreadFigures): string[] {
  return [
    `## Interest: ${spread.users} users spread round-robin over ${spread.receivers.length} receivers, ${spread.chats} chats of 2–3 of them, ${spread.posts} posts`,
    '',
    'Each user has one connection to its receiver with `chatMessageNotification` and `messageAdded` of each of its chats. A receiver',
    `hearing every row would hear ${spread.posts}; rows needed are the posts of chats with a participant connected there.`,
    '',
    '| receiver | users | chats needed | rows needed | rows heard, needed | rows heard for nothing | frames needed | frames sent |',
    '|---|---|---|---|---|---|---|---|',
    ...spread.receivers.map(
      (r, i) => `| ${i + 1} | ${r.users} | ${r.chatsNeeded} of ${spread.chats} | ${r.rowsNeeded} | ${r.heardNeeded} | ${r.heardForNothing} | ${r.framesNeeded} | ${r.framesSent} |`,
    ),
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

function report(baselines: Baselines, single: OneProcessFigures, cluster: ClusterFigures, floor: ReceiverFloorFigures, spread: SpreadFigures, drains: RelayDrainFigures[]): void {
  const rate = (r: WriteRate) => `${r.perSecond}/s (${r.cpuUsPerCommit ?? 'n/a'} µs)`;
  const writes = (figures: OneProcessFigures['write']) =>
    WRITE_CLIENTS.map((c) => {
      const f = figures[c]!;
      const bigToSmall = f.separateChats.perSecond > 0 ? (f.bigChats.perSecond / f.separateChats.perSecond).toFixed(2) : 'n/a';
      return `| ${c} | ${rate(f.separateChats)} | ${rate(f.oneChat)} | ${rate(f.bigChats)} | ${bigToSmall} | ${baselines.pgbenchInsertTps[c] ?? 'n/a'} |`;
    });
  const writeTable = ['| clients | own chats of 2 | one shared chat | own chats of 1000 | 1000 : 2 | pgbench one-row insert tps (limit) |', '|---|---|---|---|---|---|'];
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
    ...appendLockLines(cluster),
    '',
    'For the ratios against the baseline design, run `SCENARIOS=write bash ../shared/peers/side-by-side.sh`.',
    '',
    ...DELIVERY_HEADER,
    `| one process (in-process bus) ${latency(single.delivery)}`,
    ...clusterDeliveryLines(cluster),
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
    ...floorLines(floor),
    '',
    `Redis PUBLISH limit (redis-benchmark): ${baselines.redisPublishPerSecond.plain ?? 'n/a'}/s plain, ${baselines.redisPublishPerSecond.pipelined ?? 'n/a'}/s pipelined.`,
    '',
    ...spreadLines(spread),
    '',
    ...relayLines(drains),
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
