import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { measureBaselines, type Baselines } from './baselines';
import { measureCluster, measureOneProcess, PEAK_CLIENTS, WRITE_CLIENTS, type ClusterFigures, type LatencyFigures, type OneProcessFigures, type WriteRate } from './cluster-figures';
import { measureInterestSpread, type SpreadFigures } from './interest-spread';
import { measureReceiverFloor, type ReceiverFloorFigures } from './receiver-floor';
import { measureRedisProfile, type RedisProfile, type RedisTargetFigures } from './redis-profile';
import { measureRebuildPause, rebuildPauseLines } from './rebuild-pause';
import { measureRelayDrain, type RelayDrainFigures } from './relay-drain';
import { measurePresence, type PresenceFigures } from './presence';

/**
 * `npm run bench`: the figures of DESIGN.md §8, each printed beside the limit measured in the same run
 * (pgbench, redis-benchmark), and a report in bench/reports/. Parley runs as separate processes started
 * from its command line; this process only drives the load. Never part of the tests.
 */
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS = { url: REDIS_URL };
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const FANOUT = (process.env.BENCH_FANOUT ?? '1000,10000').split(',').map(Number);
const SECRET = 'parley-bench-secret-0123456789abcdef';
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 100_000);
const REBUILD_EVENTS = Number(process.env.BENCH_REBUILD_EVENTS ?? 300_000);
const SPREAD = {
  users: Number(process.env.BENCH_SPREAD_USERS ?? 30),
  chats: Number(process.env.BENCH_SPREAD_CHATS ?? 30),
  receivers: Number(process.env.BENCH_SPREAD_RECEIVERS ?? 3),
  posts: Number(process.env.BENCH_SPREAD_POSTS ?? 3000),
};
/** The cluster profile's spread: at least 1,000 chats (random ids, from the API), each posted to `rounds` times. */
const CLUSTER_CHATS = Number(process.env.BENCH_CLUSTER_CHATS ?? 1200);
const CLUSTER_SPREAD = {
  users: Number(process.env.BENCH_CLUSTER_USERS ?? 150),
  chats: CLUSTER_CHATS,
  receivers: 3,
  posts: CLUSTER_CHATS * Number(process.env.BENCH_CLUSTER_ROUNDS ?? 3),
};
/**
 * `BENCH_ONLY=<part>` runs one part alone and prints its section: `relay` (the drain with 1 and 2
 * relays), `lock` (the append lock at the 32-client write peak), `delivery` (latency by subscription
 * kind through Redis), `spread` (users spread over receivers, what each hears), `floor` (the receiver's
 * CPU per event with one subscriber beside the least any process spends per event), `redis-cluster`
 * (delivery, fan-out, routing and a spread over many chats against a local 3-master Redis Cluster and
 * against one private Redis, per Redis node; both started and stopped by the bench), `presence` (5,000
 * users idle on two receivers, then 1,000 of them typing: Redis commands and CPU, receiver CPU, rows
 * written, typing frames and latency), `rebuild` (`projections rebuild` of `BENCH_REBUILD_EVENTS`
 * events beside 16 writers: posts/s before and during, and the pause at the swap).
 */
const ONLY = process.env.BENCH_ONLY;
/** The presence figure (DESIGN.md §10): connected users idle, then some of them typing. */
const PRESENCE = {
  users: Number(process.env.BENCH_PRESENCE_USERS ?? 5000),
  chats: Number(process.env.BENCH_PRESENCE_CHATS ?? 200),
  typists: Number(process.env.BENCH_PRESENCE_TYPISTS ?? 1000),
  idleSeconds: Number(process.env.BENCH_PRESENCE_IDLE_SECONDS ?? 60),
  typingSeconds: Number(process.env.BENCH_PRESENCE_TYPING_SECONDS ?? 30),
  typingEveryMs: 2500,
  warmUpSeconds: 5,
};

async function main(): Promise<void> {
  if (ONLY !== undefined && ONLY !== '') {
    const parts: Record<string, () => Promise<string[]>> = {
      relay: async () => relayLines(await relayDrains()),
      lock: async () => appendLockLines(await withDatabase((url) => measureCluster(url, REDIS, SECRET, FANOUT, SECONDS, 'lock'))),
      delivery: async () => [...DELIVERY_HEADER, ...clusterDeliveryLines(await withDatabase((url) => measureCluster(url, REDIS, SECRET, FANOUT, SECONDS, 'delivery')))],
      spread: async () => spreadLines(await withDatabase((url) => measureInterestSpread(url, REDIS, SECRET, SPREAD))),
      floor: async () => floorLines(await withDatabase((url) => measureReceiverFloor(url, REDIS_URL, SECRET))),
      'redis-cluster': async () => redisProfileLines(await redisProfile()),
      presence: async () => presenceLines(await withDatabase((url) => measurePresence(url, SECRET, PRESENCE))),
      rebuild: async () => rebuildPauseLines(await withDatabase((url) => measureRebuildPause(url, SECRET, REBUILD_EVENTS, 16, SECONDS))),
    };
    const part = parts[ONLY];
    if (!part) throw new Error(`BENCH_ONLY=${ONLY}: choose one of ${Object.keys(parts).join(', ')}`);
    process.stdout.write(`${(await part()).join('\n')}\n`);
    return;
  }
  const baselines = await withDatabase(async (url) => measureBaselines(url, REDIS_URL, SECONDS));
  const single = await withDatabase((url) => measureOneProcess(url, SECRET, SECONDS));
  const cluster = await withDatabase((url) => measureCluster(url, REDIS, SECRET, FANOUT, SECONDS));
  const floor = await withDatabase((url) => measureReceiverFloor(url, REDIS_URL, SECRET));
  const spread = await withDatabase((url) => measureInterestSpread(url, REDIS, SECRET, SPREAD));
  const drains = await relayDrains();
  const redisCluster = await redisProfile();
  const presence = await withDatabase((url) => measurePresence(url, SECRET, PRESENCE));
  report(baselines, single, cluster, floor, spread, drains, redisCluster, presence);
}

function presenceLines(p: PresenceFigures): string[] {
  const { baseline, idle, typing } = p.windows;
  const presenceOwn = (w: PresenceFigures['windows']['idle']) => w.redisCommandsPerSecond.zadd ?? 0;
  const all = (w: PresenceFigures['windows']['idle']) => Math.round(Object.values(w.redisCommandsPerSecond).reduce((a, b) => a + b, 0) * 100) / 100;
  const row = (name: string, w: PresenceFigures['windows']['idle']) =>
    `| ${name} | ${w.seconds} | ${presenceOwn(w)} | ${all(w)} | ${w.redisCpuMsPerSecond} | ${w.receiverCpuMsPerSecond.join(' / ')} | ${w.senderCpuMsPerSecond} | ${w.loadCpuMsPerSecond} | ${w.rowsWritten} |`;
  return [
    `## Presence and typing: ${p.options.users} connected users on ${p.receivers} receivers, idle, then ${p.options.typists} of them typing in ${p.options.chats} chats`,
    '',
    `A private Redis; registrations every ${p.intervalMs / 1000} s, so at most ${p.receivers} ÷ ${p.intervalMs / 1000} s = ${p.receivers / (p.intervalMs / 1000)} presence calls/s while idle. "Presence calls" count the registrations: one EVALSHA each, which commandstats lists with the reads and the one ZADD it runs (the zadd count is the registrations). "All commands" include the relay's ticks, the subscribers' probes and everything inside scripts. Rows are pg_stat_database's inserted + updated + deleted in the bench database during the window.`,
    '',
    '| window | s | presence calls/s | all Redis commands/s | Redis CPU ms/s | receiver CPU ms/s (each) | sender+relay CPU ms/s | load generator CPU ms/s | rows written |',
    '|---|---|---|---|---|---|---|---|---|',
    row('baseline: no users', baseline),
    row(`${p.options.users} users idle`, idle),
    row(`${p.options.typists} typing`, typing),
    '',
    `Typing, after ${p.options.warmUpSeconds} s of warm-up: ${p.typing.calls} setTyping calls (one per typist every ${p.options.typingEveryMs / 1000} s, over HTTP to the sender), ${p.typing.framesPerSecond} frames/s delivered; latency from the call to each frame at the other participants (on both receivers) p50 ${p.typing.p50Ms} ms, p99 ${p.typing.p99Ms} ms, max ${p.typing.maxMs} ms; the call's own answer p50 ${p.typing.answerP50Ms} ms, p99 ${p.typing.answerP99Ms} ms.`,
    '',
    `Redis commands by name, per second, typing window: ${JSON.stringify(typing.redisCommandsPerSecond)}; idle window: ${JSON.stringify(idle.redisCommandsPerSecond)}.`,
  ];
}

function redisProfile(): Promise<RedisProfile> {
  return measureRedisProfile({ secret: SECRET, fanout: FANOUT, seconds: SECONDS, spread: CLUSTER_SPREAD, withDatabase });
}

function redisProfileLines(p: RedisProfile): string[] {
  const spread = p.one.spread;
  const oneMessages = p.one.nodes[0]!.messages;
  type Node = RedisTargetFigures['nodes'][number];
  // The cluster's three masters as one more row, figures added up.
  const all = (t: RedisTargetFigures): Node => {
    const total = (key: keyof Node) => Math.round(t.nodes.reduce((sum, node) => sum + (node[key] as number), 0) * 10) / 10;
    return {
      node: 'all 3',
      partitions: total('partitions'),
      chats: total('chats'),
      messages: total('messages'),
      rows: total('rows'),
      deliveries: total('deliveries'),
      cpuMs: total('cpuMs'),
      idleCpuMsPerSecond: total('idleCpuMsPerSecond'),
      idleMessagesPerSecond: total('idleMessagesPerSecond'),
      scriptCalls: total('scriptCalls'),
      scriptMs: total('scriptMs'),
    };
  };
  const rows: [string, RedisTargetFigures, Node][] = [
    ...p.cluster.nodes.map((n, i): [string, RedisTargetFigures, Node] => [`cluster master ${i + 1} (${n.node})`, p.cluster, n]),
    ['cluster, all 3', p.cluster, all(p.cluster)],
    [`one Redis (${p.one.nodes[0]!.node})`, p.one, p.one.nodes[0]!],
  ];
  const percent = (part: number, whole: number) => (whole > 0 ? `${((part * 100) / whole).toFixed(1)} %` : 'n/a');
  const per = (ms: number, count: number) => (count > 0 ? ((ms * 1000) / count).toFixed(1) : 'n/a');
  const balance = (what: string, values: number[]) => {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const deviation = (value: number) => `${value >= mean ? '+' : '−'}${((Math.abs(value - mean) * 100) / mean).toFixed(1)} %`;
    const worst = Math.max(...values.map((value) => Math.abs(value - mean) / mean));
    return `| ${what} | ${values.join(' / ')} | ${Math.round(mean)} | ${values.map(deviation).join(' / ')} | ${(Math.max(...values) / Math.min(...values)).toFixed(2)} | ${worst <= 0.25 ? 'yes' : 'no'} |`;
  };
  const latency = (l: LatencyFigures) => `${l.p50} / ${l.p99} / ${l.max} ms`;
  const side = (figure: string, of: (t: RedisTargetFigures) => string) => `| ${figure} | ${of(p.cluster)} | ${of(p.one)} |`;
  const heard = (t: RedisTargetFigures, key: 'heardNeeded' | 'heardForNothing') => t.spread.receivers.reduce((total, r) => total + r[key], 0);
  return [
    '## Redis Cluster profile: a local cluster of 3 masters (no replicas) beside one Redis, the same scenarios in the same run',
    '',
    `Spread: ${spread.users} users round-robin over ${spread.receivers.length} receivers in ${spread.chats} chats of 2–3 of them (ids from the API, random), each user`,
    `with \`chatMessageNotification\` and \`messageAdded\` of each of its chats; ${spread.posts} posts, the chats in turn (each posted to equally).`,
    `From the first post to the last frame: ${p.cluster.seconds} s on the cluster, ${p.one.seconds} s on one Redis. Per Redis node over those posts:`,
    '',
    '- messages: its SPUBLISH calls (`INFO commandstats`, which counts the SPUBLISHes inside the relay\'s publish script);',
    '- rows: the posts to the chats whose channel is on it (a message each); ticks and probes: the rest (each partition\'s tick twice a second,',
    '  each receiver\'s probes every 2 s), and in brackets their rate over 2 s with nothing posted just before;',
    '- rows delivered: each post times the receivers subscribed to its chat\'s channel there (`PUBSUB SHARDNUMSUB` before the posts; Redis 7.0',
    '  counts no deliveries); share needed: rows that a receiver there had subscribed to, of its messages;',
    '- CPU: `INFO cpu` used_cpu_user + used_cpu_sys over the posts, everything the node did (cron, cluster bus); net: less its idle rate',
    '  (the 2 s before) times the window; script: the relay\'s publish script (EVALSHA), calls and `usec`.',
    '',
    '| Redis | partitions | chats | messages | : one Redis | rows | ticks and probes (idle /s) | rows delivered | share needed |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      ([label, , n]) =>
        `| ${label} | ${n.partitions} | ${n.chats} | ${n.messages} | ${(n.messages / oneMessages).toFixed(2)} | ${n.rows} | ${n.messages - n.rows} (${n.idleMessagesPerSecond}) | ${n.deliveries} | ${percent(n.rows, n.messages)} |`,
    ),
    '',
    '| Redis | CPU ms | idle CPU ms/s | CPU µs per delivered row | net of idle | script calls | rows per call | script µs per row |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(([label, t, n]) => {
      const net = n.cpuMs - n.idleCpuMsPerSecond * t.seconds;
      return `| ${label} | ${n.cpuMs} | ${n.idleCpuMsPerSecond} | ${per(n.cpuMs, n.deliveries)} | ${per(net, n.deliveries)} | ${n.scriptCalls} | ${n.scriptCalls > 0 ? (n.rows / n.scriptCalls).toFixed(1) : 'n/a'} | ${per(n.scriptMs, n.rows)} |`;
    }),
    '',
    `Rows the receivers heard (\`parley_receiver_events_heard_total\`): ${heard(p.cluster, 'heardNeeded')} needed and ${heard(p.cluster, 'heardForNothing')} for nothing on`,
    `the cluster, ${heard(p.one, 'heardNeeded')} and ${heard(p.one, 'heardForNothing')} on one Redis. Posts to chats with no subscriber on any node: ${p.cluster.rowsWithoutSubscriber} and ${p.one.rowsWithoutSubscriber}.`,
    `A classic-pub/sub cluster copies every PUBLISH to every node over the cluster bus: each master would carry all ${all(p.cluster).messages}.`,
    '',
    `Balance over the 3 masters (target: each within ±25 % of the mean, ${spread.chats} equally active chats, ${all(p.cluster).partitions} partitions):`,
    '',
    '| per master | values | mean | from the mean | max : min | within ±25 % |',
    '|---|---|---|---|---|---|',
    balance('messages', p.cluster.nodes.map((n) => n.messages)),
    balance('rows', p.cluster.nodes.map((n) => n.rows)),
    balance('chats', p.cluster.nodes.map((n) => n.chats)),
    balance('partitions', p.cluster.nodes.map((n) => n.partitions)),
    '',
    'Delivery, fan-out and routing (the scenarios above), against each:',
    '',
    '| figure | 3-master cluster | one Redis |',
    '|---|---|---|',
    side(`\`messageAdded\` p50 / p99 / max (${p.one.reads.delivery.messageAdded.samples} posts)`, (t) => latency(t.reads.delivery.messageAdded)),
    side('`chatMessageNotification` p50 / p99 / max', (t) => latency(t.reads.delivery.chatMessageNotification)),
    ...p.one.reads.fanout.map((f, i) =>
      side(`fan-out to ${f.subscribers}: frames/s (receiver CPU µs per frame)`, (t) => `${t.reads.fanout[i]?.framesPerSecond ?? 'n/a'} (${t.reads.fanout[i]?.receiverCpuUsPerFrame ?? 'n/a'})`),
    ),
    ...p.one.reads.routing.map((r, i) =>
      side(`routing, ${r.otherSubscribers} in other chats: p50 / p99 ms (receiver CPU µs per event)`, (t) => {
        const row = t.reads.routing[i];
        return row ? `${row.latency.p50} / ${row.latency.p99} (${row.receiverCpuUsPerEvent ?? 'n/a'})` : 'n/a';
      }),
    ),
  ];
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

function report(
  baselines: Baselines,
  single: OneProcessFigures,
  cluster: ClusterFigures,
  floor: ReceiverFloorFigures,
  spread: SpreadFigures,
  drains: RelayDrainFigures[],
  redisCluster: RedisProfile,
  presence: PresenceFigures,
): void {
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
    '',
    ...redisProfileLines(redisCluster),
    '',
    ...presenceLines(presence),
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
