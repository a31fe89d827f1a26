import { randomBytes } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { signDevelopmentToken } from '../src/infrastructure/auth/development-token';
import type { RedisTarget } from '../src/infrastructure/redis/redis-connections';
import { cpuMillis, redisEnv, runCommand, startInstance, type Instance } from './processes';
import { bucketQuantile, Scrape, since } from './scrape';
import { SocketCrowd } from './sockets';

export interface LatencyFigures {
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

/** Commits per second, and the writing process's CPU time per commit (null where /proc is not there). */
export interface WriteRate {
  perSecond: number;
  cpuUsPerCommit: number | null;
  /** The writer's append lock over the measured seconds, where asked for. */
  appendLock?: AppendLockFigures;
}

/**
 * DESIGN.md §3 "Commit order": per write batch (transaction), the time waiting for the append lock and
 * holding it, from the writer's histograms. `p99` is the upper bound of the bucket holding the 99th
 * percentile (Infinity past the last bound).
 */
export interface AppendLockFigures {
  batchesPerSecond: number;
  commandsPerBatch: number;
  waitMeanMs: number;
  waitP99Ms: number;
  holdMeanMs: number;
  holdP99Ms: number;
}

/** DESIGN.md §8 write: each client in a chat of its own (of 2), all in one chat, each in a chat of 1000. */
export interface WriteFigures {
  [clients: number]: { separateChats: WriteRate; oneChat: WriteRate; bigChats: WriteRate };
}

export const WRITE_CLIENTS = [1, 8, 32];
/** The write peak, where DESIGN.md §3 asks for the append lock's wait and hold. */
export const PEAK_CLIENTS = 32;
const BIG_CHAT = 1000;

export interface OneProcessFigures {
  write: WriteFigures;
  delivery: LatencyFigures;
}

export interface ClusterFigures {
  write: WriteFigures;
  /** The same posts to a chat-scoped subscriber and to a user-scoped one (a participant, not the sender). */
  delivery: { messageAdded: LatencyFigures; chatMessageNotification: LatencyFigures };
  fanout: { subscribers: number; messages: number; framesPerSecond: number; receiverCpuUsPerFrame: number | null; bytesPerIdleConnection: number }[];
  /** `receiverCpuUsPerEvent`: the receiver's CPU while the samples go through, per sample. */
  routing: { otherSubscribers: number; latency: LatencyFigures; receiverCpuUsPerEvent: number | null }[];
}

const ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { id seq content cursor } }';
const NOTIFIED = 'subscription($a: String) { chatMessageNotification(after: $a) { chatId cursor message { content } } }';

/**
 * Parts of the cluster run: `lock` writes with 32 clients only, `delivery` the latency by kind only,
 * `reads` everything but the writes (delivery, fan-out, routing).
 */
export type ClusterPart = 'all' | 'lock' | 'delivery' | 'reads';

/** `parley serve --role all` without Redis: the in-process bus. */
export async function measureOneProcess(databaseUrl: string, secret: string, seconds: number): Promise<OneProcessFigures> {
  const env = { DATABASE_URL: databaseUrl, AUTH_JWT_SECRET: secret, REDIS_URL: '' };
  if ((await runCommand(['migrate'], env)) !== 0) throw new Error('parley migrate failed');
  const all = await startInstance('all', env);
  try {
    const api = new Api(all.url, secret);
    return { write: await writeRates(api, all, seconds), delivery: await deliveryLatency(api, all, 500) };
  } finally {
    await all.stop();
  }
}

/** Sender, receiver and relay as separate processes joined by Redis (DESIGN.md §8 delivery, fan-out, routing). */
export async function measureCluster(databaseUrl: string, redis: RedisTarget, secret: string, fanout: number[], seconds: number, part: ClusterPart = 'all'): Promise<ClusterFigures> {
  const env = { DATABASE_URL: databaseUrl, ...redisEnv(redis), AUTH_JWT_SECRET: secret, REDIS_CHANNEL_PREFIX: `bench-${randomBytes(3).toString('hex')}:` };
  if ((await runCommand(['migrate'], env)) !== 0) throw new Error('parley migrate failed');
  const instances: Instance[] = [];
  try {
    const [sender, receiver, relay] = await Promise.all([startInstance('sender', env), startInstance('receiver', env), startInstance('relay', env)]);
    instances.push(sender!, receiver!, relay!);
    const api = new Api(sender!.url, secret);
    const noLatency = { samples: 0, p50: NaN, p99: NaN, max: NaN };
    const write = part === 'delivery' || part === 'reads' ? {} : await writeRates(api, sender!, seconds, part === 'lock' ? [PEAK_CLIENTS] : WRITE_CLIENTS, true);
    const delivery = part === 'lock' ? { messageAdded: noLatency, chatMessageNotification: noLatency } : await deliveryByKind(api, receiver!, 300);
    if (part === 'lock' || part === 'delivery') return { write, delivery, fanout: [], routing: [] };
    const fanoutFigures = [];
    for (const subscribers of fanout) fanoutFigures.push(await fanOut(api, receiver!, subscribers));
    const routing = [];
    for (const others of [0, ...fanout]) routing.push({ otherSubscribers: others, ...(await routingLatency(api, receiver!, others)) });
    return { write, delivery, fanout: fanoutFigures, routing };
  } finally {
    await Promise.all(instances.map((instance) => instance.stop()));
  }
}

/**
 * createMessage commits per second with 1, 8 and 32 clients posting back to back: each in a chat of
 * its own with one other participant, all in one chat, and each in a chat of its own with 999 others
 * (a post should cost the same there: DESIGN.md §2 "Cost"); with the writer's CPU time per commit.
 */
async function writeRates(api: Api, writer: Instance, seconds: number, clientCounts = WRITE_CLIENTS, appendLock = false): Promise<WriteFigures> {
  const figures: WriteFigures = {};
  for (const clients of clientCounts) {
    const lock = appendLock && clients === PEAK_CLIENTS;
    const run = `${clients}-${randomBytes(3).toString('hex')}`;
    const writers = Array.from({ length: clients }, (_, i) => `writer-${run}-${i}`);
    const ownChats = await Promise.all(writers.map((w) => api.createChat(w, [`reader-${w}`])));
    const shared = await api.createChat(writers[0]!, writers);
    const bigChats = await Promise.all(writers.map((w) => api.createChat(w, Array.from({ length: BIG_CHAT - 1 }, (_, i) => `member-${w}-${i}`))));
    // Chats of 2 and chats of 1000 take turns, two windows each of half the time (A B B A): the
    // machine's other work comes and goes, and one window of each, taken one after the other, was seen
    // to differ by 2× for the same cost. Their ratio is what is compared.
    const half = seconds / 2;
    const own = (i: number) => ownChats[i]!;
    const big = (i: number) => bigChats[i]!;
    const separateFirst = await postFor(api, writer, writers, own, half, lock);
    const bigFirst = await postFor(api, writer, writers, big, half, lock);
    const bigSecond = await postFor(api, writer, writers, big, half, false);
    const separateSecond = await postFor(api, writer, writers, own, half, false);
    figures[clients] = {
      separateChats: meanOfWindows(separateFirst, separateSecond),
      oneChat: await postFor(api, writer, writers, () => shared, seconds, lock),
      bigChats: meanOfWindows(bigFirst, bigSecond),
    };
  }
  return figures;
}

async function postFor(api: Api, writer: Instance, writers: string[], chatOf: (writer: number) => string, seconds: number, appendLock = false): Promise<WriteRate> {
  // A second of warm-up, not counted: connections, prepared statements and the JIT settle first.
  await postDuring(api, writers, chatOf, 1);
  const metricsBefore = appendLock ? await Scrape.of(writer) : null;
  const cpuBefore = cpuMillis(writer.child.pid);
  const started = performance.now();
  const posted = await postDuring(api, writers, chatOf, seconds);
  const elapsed = (performance.now() - started) / 1000;
  const cpuAfter = cpuMillis(writer.child.pid);
  return {
    perSecond: Math.round(posted / elapsed),
    cpuUsPerCommit: cpuBefore === null || cpuAfter === null || posted === 0 ? null : Math.round(((cpuAfter - cpuBefore) * 1000) / posted),
    ...(metricsBefore ? { appendLock: appendLockOver(metricsBefore, await Scrape.of(writer), elapsed) } : {}),
  };
}

/** Two equal windows of one kind as one figure; the append lock's figures are the first window's. */
function meanOfWindows(first: WriteRate, second: WriteRate): WriteRate {
  const cpu = first.cpuUsPerCommit === null || second.cpuUsPerCommit === null ? null : Math.round((first.cpuUsPerCommit + second.cpuUsPerCommit) / 2);
  return { ...first, perSecond: Math.round((first.perSecond + second.perSecond) / 2), cpuUsPerCommit: cpu };
}

/** The append lock's histograms between two readings of the writer's /metrics. */
function appendLockOver(before: Scrape, after: Scrape, seconds: number): AppendLockFigures {
  const of = (name: string) => since(after.histogram(name), before.histogram(name));
  const wait = of('parley_append_lock_wait_seconds');
  const hold = of('parley_append_lock_hold_seconds');
  const commands = of('parley_write_batch_commands');
  const ms = (value: number) => Math.round(value * 1e5) / 100;
  return {
    batchesPerSecond: Math.round(hold.count / seconds),
    commandsPerBatch: hold.count === 0 ? NaN : Math.round((commands.sum / commands.count) * 10) / 10,
    waitMeanMs: ms(wait.sum / wait.count),
    waitP99Ms: ms(bucketQuantile(wait, 0.99)),
    holdMeanMs: ms(hold.sum / hold.count),
    holdP99Ms: ms(bucketQuantile(hold, 0.99)),
  };
}

async function postDuring(api: Api, writers: string[], chatOf: (writer: number) => string, seconds: number): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  const counts = await Promise.all(
    writers.map(async (writer, i) => {
      let posted = 0;
      while (performance.now() < deadline) {
        await api.post(writer, chatOf(i), 'bench');
        posted++;
      }
      return posted;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** From sending the mutation to a sender, to the frame arriving from a receiver, one message at a time. */
async function deliveryLatency(api: Api, receiver: Instance, samples: number, chatId?: string): Promise<LatencyFigures> {
  const chat = chatId ?? (await api.createChat('sender', ['receiver']));
  const client = await api.client(receiver, 'receiver');
  const arrivals = new Map<string, number>();
  let notify: () => void = () => undefined;
  client.subscribe<{ messageAdded: { content: string } }>(
    { query: ADDED, variables: { c: chat, a: await api.head('receiver') } },
    { next: (result) => (arrivals.set(result.data!.messageAdded.content, performance.now()), notify()), error: () => undefined, complete: () => undefined },
  );
  const latencies: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const content = `latency ${i}`;
      const arrived = new Promise<void>((resolve) => (notify = () => arrivals.has(content) && resolve()));
      const sent = performance.now();
      await api.post('sender', chat, content);
      await arrived;
      latencies.push(arrivals.get(content)! - sent);
    }
  } finally {
    await client.dispose();
  }
  return percentiles(latencies);
}

/**
 * The same posts, one at a time, to two subscribers on the receiver: `messageAdded` of the chat, and
 * `chatMessageNotification` of a participant who is not the sender (user-scoped: the receiver feeds it
 * from the chats of its user). Each latency from the mutation sent to its own frame.
 */
async function deliveryByKind(api: Api, receiver: Instance, samples: number): Promise<ClusterFigures['delivery']> {
  const chat = await api.createChat('sender', ['receiver', 'notified']);
  const clients = await Promise.all(['receiver', 'notified'].map((user) => api.client(receiver, user)));
  const added = new Map<string, number>();
  const notified = new Map<string, number>();
  let notify: () => void = () => undefined;
  const failed = (error: unknown) => process.stderr.write(`delivery subscriber: ${JSON.stringify(error)}\n`);
  clients[0]!.subscribe<{ messageAdded: { content: string } }>(
    { query: ADDED, variables: { c: chat, a: await api.head('receiver') } },
    { next: (result) => (added.set(result.data!.messageAdded.content, performance.now()), notify()), error: failed, complete: () => undefined },
  );
  clients[1]!.subscribe<{ chatMessageNotification: { message: { content: string } } }>(
    { query: NOTIFIED, variables: { a: await api.head('notified') } },
    { next: (result) => (notified.set(result.data!.chatMessageNotification.message.content, performance.now()), notify()), error: failed, complete: () => undefined },
  );
  const latencies = { messageAdded: [] as number[], chatMessageNotification: [] as number[] };
  try {
    for (let i = 0; i < samples; i++) {
      const content = `latency ${i}`;
      const arrived = new Promise<void>((resolve) => (notify = () => (added.has(content) && notified.has(content) ? resolve() : undefined)));
      const sent = performance.now();
      await api.post('sender', chat, content);
      await arrived;
      latencies.messageAdded.push(added.get(content)! - sent);
      latencies.chatMessageNotification.push(notified.get(content)! - sent);
    }
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
  }
  return { messageAdded: percentiles(latencies.messageAdded), chatMessageNotification: percentiles(latencies.chatMessageNotification) };
}

/** N idle subscribers of one chat on the receiver; frames per second for a burst, and memory per connection. */
async function fanOut(api: Api, receiver: Instance, subscribers: number) {
  const chat = await api.createChat('sender', ['watcher']);
  const token = await api.token('watcher');
  const before = await residentBytes(receiver);
  const crowd = new SocketCrowd();
  const head = await api.head('watcher');
  await crowd.connect(wsUrl(receiver), token, subscribers, ADDED, () => ({ c: chat, a: head }));
  const idle = await residentBytes(receiver);
  const messages = 20;
  const started = performance.now();
  const cpuBefore = cpuMillis(receiver.child.pid);
  for (let i = 0; i < messages; i++) await api.post('sender', chat, `fan-out ${i}`);
  await crowd.waitForFrames(messages * subscribers);
  const cpuAfter = cpuMillis(receiver.child.pid);
  const seconds = (performance.now() - started) / 1000;
  crowd.close();
  return {
    subscribers,
    messages,
    framesPerSecond: Math.round((messages * subscribers) / seconds),
    receiverCpuUsPerFrame: perItem(cpuBefore, cpuAfter, messages * subscribers),
    bytesPerIdleConnection: Math.round((idle - before) / subscribers),
  };
}

/** Latency to one subscriber while `others` subscribers sit in 100 other chats: flat if routing is by index. */
async function routingLatency(api: Api, receiver: Instance, others: number): Promise<{ latency: LatencyFigures; receiverCpuUsPerEvent: number | null }> {
  const crowd = new SocketCrowd();
  if (others > 0) {
    const chats = await Promise.all(Array.from({ length: 100 }, () => api.createChat('sender', ['bystander'])));
    await crowd.connect(wsUrl(receiver), await api.token('bystander'), others, ADDED, (i) => ({ c: chats[i % chats.length] }));
  }
  const samples = 200;
  try {
    const cpuBefore = cpuMillis(receiver.child.pid);
    const latency = await deliveryLatency(api, receiver, samples);
    return { latency, receiverCpuUsPerEvent: perItem(cpuBefore, cpuMillis(receiver.child.pid), samples) };
  } finally {
    crowd.close();
  }
}

/** CPU microseconds per item from two readings in milliseconds; null where /proc cannot be read. */
function perItem(cpuBeforeMs: number | null, cpuAfterMs: number | null, items: number): number | null {
  if (cpuBeforeMs === null || cpuAfterMs === null || items === 0) return null;
  return Math.round(((cpuAfterMs - cpuBeforeMs) * 1000 * 10) / items) / 10;
}

async function residentBytes(instance: Instance): Promise<number> {
  const text = await (await fetch(instance.url.replace('/graphql', '/metrics'))).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? 0);
}

function wsUrl(instance: Instance): string {
  return instance.url.replace(/^http/, 'ws');
}

export function percentiles(samples: number[]): LatencyFigures {
  if (samples.length === 0) return { samples: 0, p50: NaN, p99: NaN, max: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2));
  return { samples: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) };
}

export class Api {
  private readonly tokens = new Map<string, string>();

  constructor(private readonly url: string, private readonly secret: string) {}

  async token(userId: string): Promise<string> {
    if (!this.tokens.has(userId)) this.tokens.set(userId, await signDevelopmentToken(this.secret, userId));
    return this.tokens.get(userId)!;
  }

  /** A graphql-ws client of the user on a receiver, connecting at once and never retrying: a bench counts what arrives. */
  async client(receiver: Instance, userId: string): Promise<Client> {
    return createClient({ url: wsUrl(receiver), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${await this.token(userId)}` }, lazy: false, retryAttempts: 0 });
  }

  async createChat(creator: string, participantIds: string[]): Promise<string> {
    const data = await this.call(creator, 'mutation($p: [ID!]!) { createChat(input: { name: "bench", participantIds: $p }) { id } }', { p: participantIds });
    return data.createChat.id;
  }

  async post(sender: string, chatId: string, content: string): Promise<void> {
    await this.call(sender, 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq } }', { c: chatId, t: content });
  }

  async head(userId: string): Promise<string> {
    return (await this.call(userId, '{ head }')).head;
  }

  private async call(userId: string, query: string, variables: Record<string, unknown> = {}): Promise<any> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await this.token(userId)}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }
}
