import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { TAKE_APPEND_LOCK } from '../src/infrastructure/persistence/commit-order';
import { Api } from './cluster-figures';
import { cpuMillis, runCommand, startInstance, type Instance } from './processes';

export interface RelayDrainFigures {
  rows: number;
  seconds: number;
  eventsPerSecond: number;
  /** CPU time of the relay process per event drained. */
  relayCpuMicrosPerEvent: number;
}

/**
 * DESIGN.md §8 "relay": events per second drained from a backlog of `rows` outbox rows. The backlog is
 * copies of one real post (3 channel messages, packed as the write path stores them), written while no
 * relay runs; then a relay starts with a receiver subscribed through Redis, and the clock runs until the
 * relay has published every row.
 */
export async function measureRelayDrain(databaseUrl: string, redisUrl: string, secret: string, rows: number): Promise<RelayDrainFigures> {
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, AUTH_JWT_SECRET: secret, REDIS_CHANNEL_PREFIX: `drain-${randomBytes(3).toString('hex')}:` };
  if ((await runCommand(['migrate'], env)) !== 0) throw new Error('parley migrate failed');
  const sender = await startInstance('sender', env);
  try {
    const api = new Api(sender.url, secret);
    const chatId = await api.createChat('alice', ['bob', 'carol']);
    await api.post('alice', chatId, 'x'.repeat(200));
  } finally {
    await sender.stop();
  }
  // Appended as every writer appends: under the append lock (nothing else writes now, but the rule holds).
  await withClient(databaseUrl, async (client) => {
    await client.query(`begin; ${TAKE_APPEND_LOCK}`);
    await client.query(
      `insert into outbox (event_position, chat_id, payload)
       select o.event_position, o.chat_id, o.payload
       from (select * from outbox where event_position is not null order by id desc limit 1) o, generate_series(1, $1)`,
      [rows],
    );
    await client.query('commit');
  });
  const receiver = await startInstance('receiver', env);
  let relay: Instance | null = null;
  try {
    // BENCH_PROFILE_DIR=<dir> writes a CPU profile of the relay there (node --cpu-prof), to see where it goes.
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    relay = await startInstance('relay', env, profile);
    const started = process.hrtime.bigint();
    const cpuBefore = cpuMillis(relay.child.pid);
    const target = rows + 2;
    for (;;) {
      if ((await relayedRecords(relay.url)) >= target) break;
      // Not too often: every scrape costs the relay the default metrics' collection.
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuAfter = cpuMillis(relay.child.pid);
    // NaN where /proc cannot be read (not Linux).
    const cpu = cpuBefore === null || cpuAfter === null ? Number.NaN : (cpuAfter - cpuBefore) * 1000;
    return { rows, seconds: round(seconds), eventsPerSecond: Math.round(rows / seconds), relayCpuMicrosPerEvent: round(cpu / rows) };
  } finally {
    await relay?.stop();
    await receiver.stop();
  }
}

async function relayedRecords(graphqlUrl: string): Promise<number> {
  const text = await (await fetch(graphqlUrl.replace('/graphql', '/metrics'))).text();
  const line = text.split('\n').find((l) => l.startsWith('parley_relay_records_total '));
  return line ? Number(line.split(' ')[1]) : 0;
}

async function withClient(url: string, work: (client: Client) => Promise<unknown>): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
