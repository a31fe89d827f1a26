import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { E2E_ENV, ParleyInstances, type Instance } from '../support/parley-instances';
import { REPO_ROOT, runParley } from '../support/parley-process';
import { freePort, TestRedisServer } from '../support/redis-server';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { tokenFor } from '../support/test-server';
import { subscribe, type Received } from '../support/ws-client';

const MESSAGE_ADDED = 'subscription($c: ID!) { messageAdded(chatId: $c) { seq } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }';

/** `parley status --json`, as ClusterStatus in composition/cluster-status.ts. */
interface StatusJson {
  partitions: { partition: number; leader: string | null; led: boolean; epoch: number | null; heartbeatAgeSeconds: number | null; checkpoint: string | null; lagRows: number; lagSeconds: number }[];
  receivers: { recorded: true; receivers: { id: string; port: number; clients: number; followedChats: number; backlog: number; lagSeconds: number; updatedAt: string }[] } | { recorded: false; reason: string };
  outbox: { rows: number; estimated: boolean; oldestAgeSeconds: number | null; oldestAt: string | null };
}

/**
 * README "Operations": `parley status` against a running cluster (a sender, two receivers, two relays,
 * PostgreSQL and a Redis of the test's own), read from PostgreSQL and Redis alone; and the Grafana
 * dashboard's queries against what each role's /metrics really exposes.
 */
describe('operating a cluster: parley status and the dashboard', () => {
  let database: TestDatabase;
  let redis: TestRedisServer;
  let env: NodeJS.ProcessEnv;
  const instances = new ParleyInstances(() => env);
  let alice: string;
  let chatId: string;
  let watcher: Received;

  const idOf = (instance: Instance) => `${hostname()}:${instance.process.child.pid}`;
  const status = async (extraEnv: NodeJS.ProcessEnv = {}): Promise<StatusJson> => {
    const run = await runParley(['status', '--json'], { ...env, ...extraEnv });
    if (run.code !== 0) throw new Error(`parley status exited with ${run.code}:\n${run.output}`);
    return JSON.parse(run.output) as StatusJson;
  };
  const receiversOf = (answer: StatusJson) => {
    if (!answer.receivers.recorded) throw new Error(`receivers not recorded: ${answer.receivers.reason}`);
    return answer.receivers.receivers;
  };
  const post = (text: string) => ok(instances.url('sender-1'), alice, POST, { c: chatId, t: text });

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = new TestRedisServer(await freePort());
    await redis.start();
    env = { DATABASE_URL: database.url, REDIS_URL: redis.url, REDIS_CHANNEL_PREFIX: `ops-${randomBytes(3).toString('hex')}:`, ...E2E_ENV, LOG_LEVEL: 'warn' };
    await instances.migrateAndStart([
      ['sender-1', 'sender'],
      ['receiver-1', 'receiver'],
      ['receiver-2', 'receiver'],
      ['relay-1', 'relay'],
      ['relay-2', 'relay'],
    ]);
    alice = await tokenFor('alice');
    chatId = (await ok(instances.url('sender-1'), alice, 'mutation { createChat(input: { name: "ops", participantIds: ["bob"] }) { id } }')).createChat.id;
  }, 120_000);

  afterAll(async () => {
    await instances.disposeClients();
    await instances.stopAll();
    await redis?.stop();
    await database?.drop();
  });

  it('shows every partition led by a live relay with its epoch, each receiver with its clients and chats, and the outbox', async () => {
    const bob = await tokenFor('bob');
    watcher = subscribe(instances.client('receiver-1', bob), MESSAGE_ADDED, { c: chatId });
    // The subscription is live once a post made now reaches it.
    await eventually(async () => {
      await post('hello');
      await watcher.count(1, 1000);
    }, 20_000);
    for (let i = 0; i < 5; i++) await post(`m${i}`);
    const relayIds = instances.relays().map(idOf);

    // The relays share the partitions as they start, and the receivers write their figures every few
    // seconds: wait for a look that has them all.
    const answer = await eventually(async () => {
      const seen = await status();
      expect(seen.partitions.every((p) => p.led && relayIds.includes(p.leader!) && p.lagRows === 0)).toBe(true);
      const [first] = receiversOf(seen).filter((receiver) => receiver.id === idOf(instances.get('receiver-1')));
      expect(first).toEqual(expect.objectContaining({ clients: 1, followedChats: 1 }));
      return seen;
    }, 30_000);

    expect(answer.partitions.map((p) => p.partition)).toEqual([...Array(16).keys()]);
    for (const partition of answer.partitions) {
      expect(partition.epoch).toBeGreaterThanOrEqual(1);
      expect(partition.checkpoint).toMatch(/^\d+\.\d+$/);
      expect(partition.heartbeatAgeSeconds).toBeGreaterThanOrEqual(0);
    }
    // Both relays take a share.
    expect(new Set(answer.partitions.map((p) => p.leader))).toEqual(new Set(relayIds));
    // As PostgreSQL has them.
    const epochs = await withClient(database.url, async (c) =>
      (await c.query<{ name: string; epoch: number }>(`select name, epoch::int as epoch from relay_leadership`)).rows,
    );
    for (const partition of answer.partitions) expect(epochs).toContainEqual({ name: `partition:${partition.partition}`, epoch: partition.epoch });

    const receivers = receiversOf(answer);
    expect(receivers.map((receiver) => receiver.id).sort()).toEqual(['receiver-1', 'receiver-2'].map((name) => idOf(instances.get(name))).sort());
    const second = receivers.find((receiver) => receiver.id === idOf(instances.get('receiver-2')))!;
    expect(second).toEqual(expect.objectContaining({ clients: 0, followedChats: 0, backlog: 0 }));
    expect(second.port).toBe(Number(new URL(instances.url('receiver-2')).port));

    const outbox = await withClient(database.url, async (c) =>
      (await c.query<{ rows: number; oldest: string }>(`select count(*)::int as rows, (extract(epoch from min(created_at)) * 1000)::float8 as oldest from outbox`)).rows[0]!,
    );
    expect(answer.outbox).toMatchObject({ rows: outbox.rows, estimated: false });
    expect(answer.outbox.rows).toBeGreaterThanOrEqual(7);
    expect(answer.outbox.oldestAt).toBe(new Date(Number(outbox.oldest)).toISOString());
    expect(answer.outbox.oldestAgeSeconds).toBeGreaterThanOrEqual(0);
  }, 90_000);

  it('prints the same as tables for a person', async () => {
    const run = await runParley(['status'], env);
    expect(run.code).toBe(0);
    const relayIds = instances.relays().map(idOf);
    expect(run.output).toMatch(/^Ordering partitions: 16 \(16 led\)\nPARTITION +LEADER +EPOCH +HEARTBEAT +CHECKPOINT +LAG ROWS +LAG\n/);
    const partitionLines = run.output.split('\n').filter((line) => /^ +\d+  /.test(line));
    expect(partitionLines).toHaveLength(16);
    for (const line of partitionLines) expect(relayIds.some((id) => line.includes(` ${id} `))).toBe(true);
    expect(run.output).toMatch(/\nReceivers: 2 live \(each writes its figures every 5 s\)\nRECEIVER +PORT +CLIENTS +FOLLOWED CHATS +BACKLOG +LAG +UPDATED\n/);
    expect(run.output).toContain(idOf(instances.get('receiver-1')));
    expect(run.output).toMatch(/\nOutbox: \d+ rows, oldest \S+ old \(\d{4}-\d\d-\d\dT[\d:.]+Z\)\n$/);
  });

  it('queries in the Grafana dashboard only metrics that the roles expose', async () => {
    const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/grafana/parley-dashboard.json'), 'utf8')) as Dashboard;
    const queried = metricNamesOf(dashboard);
    // Every panel the README names has its query.
    for (const name of ['parley_write_command_seconds_bucket', 'parley_relay_partition_lag_seconds', 'parley_delivery_latency_seconds_bucket', 'parley_connected_clients', 'parley_dropped_slow_clients_total', 'parley_receiver_fills_total']) {
      expect(queried).toContain(name);
    }
    // A post delivered now: the relay that published it and the receiver that delivered it have samples of it.
    const before = watcher.items.length;
    await post('for the metrics');
    await watcher.count(before + 1);
    const scrapes = new Map<string, Scrape>();
    for (const name of ['sender-1', 'receiver-1', 'relay-1', 'relay-2']) scrapes.set(name, parseScrape(await (await fetch(instances.url(name).replace('/graphql', '/metrics'))).text()));
    const missing: string[] = [];
    for (const metric of queried) {
      // Each role exposes the family, and at least one role has samples of it (after the traffic above).
      for (const [name, scrape] of scrapes) if (!scrape.families.has(familyOf(metric, scrape))) missing.push(`${metric}: no family on ${name}`);
      if (![...scrapes.values()].some((scrape) => scrape.samples.has(metric))) missing.push(`${metric}: no samples on any role`);
    }
    expect(missing).toEqual([]);
  });

  it("counts a partition's rows its relay has not published, and sees them go once it has", async () => {
    const partition = await withClient(database.url, async (c) => (await c.query<{ partition: number }>('select partition from chats where id = $1', [chatId])).rows[0]!.partition);
    const relays = instances.relays();
    // The relay saves its checkpoint once idle after a page: from a saved one, the count is exact.
    await eventually(async () => expect((await status()).partitions[partition]!.lagRows).toBe(0), 30_000);
    for (const relay of relays) relay.process.child.kill('SIGSTOP');
    try {
      for (let i = 0; i < 3; i++) await post(`held ${i}`);
      const held = (await status()).partitions[partition]!;
      expect(held.lagRows).toBe(3);
      expect(held.lagSeconds).toBeGreaterThanOrEqual(0);
    } finally {
      for (const relay of relays) relay.process.child.kill('SIGCONT');
    }
    await eventually(async () => expect((await status()).partitions[partition]!.lagRows).toBe(0), 30_000);
  }, 60_000);

  it('says receivers are not recorded without Redis, and needs DATABASE_URL', async () => {
    const { REDIS_URL: _redis, ...withoutRedis } = env;
    const run = await runParley(['status', '--json'], { ...withoutRedis, REDIS_URL: '' });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.output) as StatusJson).receivers).toEqual({ recorded: false, reason: expect.stringMatching(/REDIS_URL/) });
    const refused = await runParley(['status'], { ...env, DATABASE_URL: '' });
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/^parley: status reads PostgreSQL: set DATABASE_URL/);
  });

  it('forgets a receiver that stopped', async () => {
    const stopped = idOf(instances.get('receiver-2'));
    await instances.get('receiver-2').process.stop('SIGTERM');
    const receivers = receiversOf(await status()).map((receiver) => receiver.id);
    expect(receivers).not.toContain(stopped);
    expect(receivers).toContain(idOf(instances.get('receiver-1')));
  });
});

interface Dashboard {
  panels: { targets?: { expr: string }[] }[];
  templating: { list: { definition?: string }[] };
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);

/** The metric names a dashboard's PromQL reads: identifiers that are not functions, keywords, labels or durations. */
function metricNamesOf(dashboard: Dashboard): string[] {
  const expressions = [
    ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr)),
    ...dashboard.templating.list.flatMap((variable) => (variable.definition ? [variable.definition.replace(/^label_values\((\w+),.*$/, '$1')] : [])),
  ];
  const names = new Set<string>();
  for (const expression of expressions) {
    const bare = expression
      .replace(/"(?:[^"\\]|\\.)*"/g, '""')
      .replace(/\{[^}]*\}/g, '')
      .replace(/\[[^\]]*\]/g, '')
      .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
    for (const match of bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
      if (match[2] || PROMQL_WORDS.has(match[1]!)) continue;
      names.add(match[1]!);
    }
  }
  return [...names].sort();
}

interface Scrape {
  families: Set<string>;
  samples: Set<string>;
}

function parseScrape(text: string): Scrape {
  const families = new Set<string>();
  const samples = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) families.add(type[1]!);
    else if (line && !line.startsWith('#')) samples.add(/^[^{ ]+/.exec(line)![0]);
  }
  return { families, samples };
}

/** A histogram's series are its family's name with a suffix. */
function familyOf(metric: string, scrape: Scrape): string {
  if (scrape.families.has(metric)) return metric;
  return metric.replace(/_(bucket|sum|count)$/, '');
}
