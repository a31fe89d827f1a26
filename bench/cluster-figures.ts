import { randomBytes } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { signDevelopmentToken } from '../src/infrastructure/auth/development-token';
import { cpuMillis, runCommand, startInstance, type Instance } from './processes';
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
}

/** DESIGN.md §8 write: each client in a chat of its own (of 2), all in one chat, each in a chat of 1000. */
export interface WriteFigures {
  [clients: number]: { separateChats: WriteRate; oneChat: WriteRate; bigChats: WriteRate };
}

export const WRITE_CLIENTS = [1, 8, 32];
const BIG_CHAT = 1000;

export interface OneProcessFigures {
  write: WriteFigures;
  delivery: LatencyFigures;
}

export interface ClusterFigures {
  write: WriteFigures;
  delivery: LatencyFigures;
  fanout: { subscribers: number; messages: number; framesPerSecond: number; receiverCpuUsPerFrame: number | null; bytesPerIdleConnection: number }[];
  /** `receiverCpuUsPerEvent`: the receiver's CPU while the samples go through, per sample. */
  routing: { otherSubscribers: number; latency: LatencyFigures; receiverCpuUsPerEvent: number | null }[];
}

const ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { id seq content cursor } }';

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
export async function measureCluster(databaseUrl: string, redisUrl: string, secret: string, fanout: number[], seconds: number): Promise<ClusterFigures> {
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, AUTH_JWT_SECRET: secret, REDIS_CHANNEL_PREFIX: `bench-${randomBytes(3).toString('hex')}:` };
  if ((await runCommand(['migrate'], env)) !== 0) throw new Error('parley migrate failed');
  const instances: Instance[] = [];
  try {
    const [sender, receiver, relay] = await Promise.all([startInstance('sender', env), startInstance('receiver', env), startInstance('relay', env)]);
    instances.push(sender!, receiver!, relay!);
    const api = new Api(sender!.url, secret);
    const write = await writeRates(api, sender!, seconds);
    const delivery = await deliveryLatency(api, receiver!, 300);
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
async function writeRates(api: Api, writer: Instance, seconds: number): Promise<WriteFigures> {
  const figures: WriteFigures = {};
  for (const clients of WRITE_CLIENTS) {
    const run = `${clients}-${randomBytes(3).toString('hex')}`;
    const writers = Array.from({ length: clients }, (_, i) => `writer-${run}-${i}`);
    const ownChats = await Promise.all(writers.map((w) => api.createChat(w, [`reader-${w}`])));
    const shared = await api.createChat(writers[0]!, writers);
    const bigChats = await Promise.all(writers.map((w) => api.createChat(w, Array.from({ length: BIG_CHAT - 1 }, (_, i) => `member-${w}-${i}`))));
    figures[clients] = {
      separateChats: await postFor(api, writer, writers, (i) => ownChats[i]!, seconds),
      oneChat: await postFor(api, writer, writers, () => shared, seconds),
      bigChats: await postFor(api, writer, writers, (i) => bigChats[i]!, seconds),
    };
  }
  return figures;
}

async function postFor(api: Api, writer: Instance, writers: string[], chatOf: (writer: number) => string, seconds: number): Promise<WriteRate> {
  // A second of warm-up, not counted: connections, prepared statements and the JIT settle first.
  await postDuring(api, writers, chatOf, 1);
  const cpuBefore = cpuMillis(writer.child.pid);
  const started = performance.now();
  const posted = await postDuring(api, writers, chatOf, seconds);
  const elapsed = (performance.now() - started) / 1000;
  const cpuAfter = cpuMillis(writer.child.pid);
  return {
    perSecond: Math.round(posted / elapsed),
    cpuUsPerCommit: cpuBefore === null || cpuAfter === null || posted === 0 ? null : Math.round(((cpuAfter - cpuBefore) * 1000) / posted),
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
  const token = await api.token('receiver');
  const client = createClient({ url: wsUrl(receiver), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, lazy: false, retryAttempts: 0 });
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
