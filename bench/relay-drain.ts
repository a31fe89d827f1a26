import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { TAKE_APPEND_LOCK } from '../src/infrastructure/persistence/commit-order';
import { Api } from './cluster-figures';
import { cpuMillis, runCommand, startInstance, type Instance } from './processes';
import { Scrape } from './scrape';

export interface RelayDrainFigures {
  relays: number;
  rows: number;
  chats: number;
  seconds: number;
  eventsPerSecond: number;
  /** CPU time of every relay process together per event drained; NaN where /proc cannot be read. */
  relayCpuMicrosPerEvent: number;
  /** Per relay: the partitions it led while draining, and the rows it published. */
  shares: { partitionsLed: number; rows: number }[];
  /** Backlog rows the subscribed receiver had heard for its followed chats when the relays were done. */
  receiverHeard: number;
}

/** Chats the backlog is spread over: enough that every one of the 16 default partitions gets some. */
const CHATS = 64;
const ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { id cursor } }';
const SETTLE_TIMEOUT_MS = 30_000;

/**
 * DESIGN.md §8 "relay": events per second drained from a backlog of about `rows` outbox rows by `relays`
 * relay processes sharing the partitions, on a database of its own.
 *
 * 64 chats are created through the API (they hash over the partitions as any chat does), and a
 * graphql-ws client on the receiver subscribes to `messageAdded` of each, so the receiver follows
 * every one (a sharded subscription per chat). The relays start together; one post per chat proves the
 * subscriptions live, and the clock waits until the relays have shared the partitions out (each leads
 * some), so that it times the shared drain, not the hand-over. Then the backlog commits at once: copies
 * of each chat's post, interleaved across the chats, each in its chat's partition, appended under the
 * append lock as every writer appends. The clock runs until the relays together have published it all.
 */
export async function measureRelayDrain(databaseUrl: string, redisUrl: string, secret: string, rows: number, relays: number): Promise<RelayDrainFigures> {
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, AUTH_JWT_SECRET: secret, REDIS_CHANNEL_PREFIX: `drain-${randomBytes(3).toString('hex')}:` };
  if ((await runCommand(['migrate'], env)) !== 0) throw new Error('parley migrate failed');
  const [sender, receiver] = await Promise.all([startInstance('sender', env), startInstance('receiver', env)]);
  const instances: Instance[] = [sender, receiver];
  const api = new Api(sender.url, secret);
  const client = await api.client(receiver, 'watcher');
  try {
    const chatIds = await Promise.all(Array.from({ length: CHATS }, () => api.createChat('poster', ['watcher'])));
    const head = await api.head('watcher');
    let frames = 0;
    let onFrame: () => void = () => undefined;
    for (const chatId of chatIds) {
      client.subscribe(
        { query: ADDED, variables: { c: chatId, a: head } },
        { next: () => (frames++, onFrame()), error: (error) => process.stderr.write(`drain subscriber: ${JSON.stringify(error)}\n`), complete: () => undefined },
      );
    }
    // BENCH_PROFILE_DIR=<dir> writes a CPU profile of each relay there (node --cpu-prof), to see where it goes.
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    const relayInstances = await Promise.all(Array.from({ length: relays }, () => startInstance('relay', env, profile)));
    instances.push(...relayInstances);
    // A frame of every chat: each subscription is live, and the relays publish.
    const warmed = new Promise<void>((resolve) => (onFrame = () => (frames >= CHATS ? resolve() : undefined)));
    await Promise.all(chatIds.map((chatId) => api.post('poster', chatId, 'x'.repeat(200))));
    await withTimeout(warmed, SETTLE_TIMEOUT_MS, () => `only ${frames} of ${CHATS} warm-up frames arrived`);
    onFrame = () => undefined;
    const partitionsLed = await sharedOut(databaseUrl, relayInstances);
    await sender.stop();

    const recordsBefore = await Promise.all(relayInstances.map(async (relay) => (await Scrape.of(relay)).value('parley_relay_records_total')));
    const heardBefore = (await Scrape.of(receiver)).value('parley_receiver_events_heard_total', 'needed="yes"');
    let cpuBefore: (number | null)[] = [];
    let started = 0n;
    const copied = await appendBacklog(databaseUrl, chatIds, Math.ceil(rows / CHATS), () => {
      cpuBefore = relayInstances.map((relay) => cpuMillis(relay.child.pid));
      started = process.hrtime.bigint();
    });
    let published: number[];
    for (;;) {
      published = await Promise.all(relayInstances.map(async (relay, i) => (await Scrape.of(relay)).value('parley_relay_records_total') - recordsBefore[i]!));
      if (published.reduce((a, b) => a + b, 0) >= copied) break;
      // Not too often: every scrape costs each relay the default metrics' collection.
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuAfter = relayInstances.map((relay) => cpuMillis(relay.child.pid));
    const cpuMs = cpuAfter.reduce<number>((total, after, i) => (after === null || cpuBefore[i] == null ? Number.NaN : total + after - cpuBefore[i]!), 0);
    const heard = (await Scrape.of(receiver)).value('parley_receiver_events_heard_total', 'needed="yes"') - heardBefore;
    return {
      relays,
      rows: copied,
      chats: CHATS,
      seconds: round(seconds),
      eventsPerSecond: Math.round(copied / seconds),
      relayCpuMicrosPerEvent: round((cpuMs * 1000) / copied),
      shares: relayInstances.map((_, i) => ({ partitionsLed: partitionsLed[i]!, rows: published[i]! })),
      receiverHeard: heard,
    };
  } finally {
    await client.dispose();
    await Promise.all(instances.map((instance) => instance.stop()));
  }
}

/**
 * Waits until the relays lead every partition between them and each leads some (a relay that joins
 * takes its share at its next look, about a second): the led counts, per relay.
 */
async function sharedOut(databaseUrl: string, relays: Instance[]): Promise<number[]> {
  let partitions = 0;
  await withClient(databaseUrl, async (client) => {
    partitions = (await client.query<{ partitions: number }>('select partitions from relay_settings')).rows[0]!.partitions;
  });
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const led = await Promise.all(relays.map(async (relay) => (await Scrape.of(relay)).value('parley_relay_partitions_led')));
    if (led.every((count) => count > 0) && led.reduce((a, b) => a + b, 0) === partitions) return led;
    if (performance.now() > deadline) throw new Error(`the relays did not share the ${partitions} partitions out: they lead ${led.join(' + ')}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * `perChat` copies of each chat's last post, interleaved across the chats (copy 1 of every chat, then
 * copy 2, …), in one transaction; `beforeCommit` runs just before its commit. Answers the rows added.
 */
async function appendBacklog(databaseUrl: string, chatIds: string[], perChat: number, beforeCommit: () => void): Promise<number> {
  let copied = 0;
  await withClient(databaseUrl, async (client) => {
    // Appended as every writer appends: under the append lock (nothing else writes now, but the rule holds).
    await client.query(`begin; ${TAKE_APPEND_LOCK}`);
    const inserted = await client.query(
      `insert into outbox (event_position, chat_id, partition, membership, payload)
       select o.event_position, o.chat_id, c.partition, false, o.payload
       from generate_series(1, $1::int) g
       cross join (select distinct on (chat_id) event_position, chat_id, payload from outbox
                   where chat_id = any($2::uuid[]) and event_position is not null and not membership
                   order by chat_id, id desc) o
       join chats c on c.id = o.chat_id
       order by g, o.chat_id`,
      [perChat, chatIds],
    );
    copied = inserted.rowCount ?? 0;
    // The relays' wake-up, as a sender gives it after a commit; delivered with the commit.
    await client.query('notify parley_outbox');
    beforeCommit();
    await client.query('commit');
  });
  return copied;
}

async function withTimeout(promise: Promise<void>, ms: number, message: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)))]);
  } finally {
    clearTimeout(timer);
  }
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
