import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { Api } from './cluster-figures';
import { cpuMillis, runCommand, startInstance, type Instance } from './processes';

export interface ReceiverFloorFigures {
  rate: number;
  seconds: number;
  /** Windows of each, taken in turns (A B B A …). */
  windows: number;
  /** The receiver's CPU per event, one subscriber, including what it spends idle meanwhile (the side-by-side driver's `cpu us/msg`). */
  receiverCpuUsPerEvent: number | null;
  /** The same for the least a process can do per event (forwarder.ts). */
  floorCpuUsPerEvent: number | null;
}

const ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { id content cursor } }';
const DRAIN_TIMEOUT_MS = 30_000;

/** What one side of the comparison does: send event k, count frames, and the pid whose CPU is read. */
interface Side {
  pid: number | undefined;
  send(k: number): Promise<unknown>;
  frames(): number;
}

/**
 * DESIGN.md §8 "routing", one subscriber: the receiver's CPU per event at a person's pace (100/s) set
 * beside the floor of any receiver that hears one Redis message per event and writes one frame per
 * subscriber: a process that does only that (forwarder.ts: an ioredis subscriber and a ws server, no
 * rules). Both are measured in the same run, in turns, so the machine's other work weighs on both.
 */
export async function measureReceiverFloor(databaseUrl: string, redisUrl: string, secret: string, options: { rate?: number; seconds?: number; pairs?: number } = {}): Promise<ReceiverFloorFigures> {
  const rate = options.rate ?? 100;
  const seconds = options.seconds ?? 10;
  const pairs = options.pairs ?? 2;
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, AUTH_JWT_SECRET: secret, REDIS_CHANNEL_PREFIX: `floor-${randomBytes(3).toString('hex')}:` };
  if ((await runCommand(['migrate'], env)) !== 0) throw new Error('parley migrate failed');
  const instances: Instance[] = [];
  const closers: (() => Promise<unknown> | void)[] = [];
  try {
    instances.push(...(await Promise.all([startInstance('sender', env), startInstance('receiver', env), startInstance('relay', env)])));
    const parley = await parleySide(new Api(instances[0]!.url, secret), instances[1]!, closers);
    const floor = await floorSide(redisUrl, closers);
    const cost = { parley: [] as number[], floor: [] as number[] };
    for (let pair = 0; pair < pairs; pair++) {
      const order: ('parley' | 'floor')[] = pair % 2 === 0 ? ['parley', 'floor'] : ['floor', 'parley'];
      for (const which of order) {
        const used = await window(which === 'parley' ? parley : floor, rate, seconds);
        if (used !== null) cost[which].push(used);
      }
    }
    const mean = (values: number[]) => (values.length === 0 ? null : Math.round(values.reduce((a, b) => a + b, 0) / values.length));
    return { rate, seconds, windows: pairs, receiverCpuUsPerEvent: mean(cost.parley), floorCpuUsPerEvent: mean(cost.floor) };
  } finally {
    for (const close of closers.reverse()) await close();
    await Promise.all(instances.map((instance) => instance.stop()));
  }
}

/** Paced posts (open loop: each is due at its time, whatever the ones before it do); CPU µs per event, gross. */
async function window(side: Side, rate: number, seconds: number): Promise<number | null> {
  const events = rate * seconds;
  const framesBefore = side.frames();
  const cpuBefore = cpuMillis(side.pid);
  const started = performance.now();
  const sends: Promise<unknown>[] = [];
  for (let k = 0; k < events; k++) {
    const wait = started + (k * 1000) / rate - performance.now();
    // The pace of the load, not a wait for an effect.
    if (wait > 0) await new Promise((done) => setTimeout(done, wait));
    sends.push(side.send(k));
  }
  await Promise.all(sends);
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  while (side.frames() - framesBefore < events) {
    if (performance.now() > deadline) throw new Error(`receiver floor: ${side.frames() - framesBefore} of ${events} frames arrived`);
    // Polling the frame count that the client's handler moves; the effect itself is awaited.
    await new Promise((done) => setTimeout(done, 5));
  }
  const cpuAfter = cpuMillis(side.pid);
  return cpuBefore === null || cpuAfter === null ? null : Math.round(((cpuAfter - cpuBefore) * 1000) / events);
}

/** One chat of two, its `messageAdded` subscribed on the receiver; events are posts through the sender. */
async function parleySide(api: Api, receiver: Instance, closers: (() => Promise<unknown> | void)[]): Promise<Side> {
  const chat = await api.createChat('poster', ['watcher']);
  const client = await api.client(receiver, 'watcher');
  closers.push(() => client.dispose());
  let frames = 0;
  client.subscribe({ query: ADDED, variables: { c: chat, a: await api.head('watcher') } }, { next: () => frames++, error: () => undefined, complete: () => undefined });
  // Live once a post comes through.
  await api.post('poster', chat, 'warm-up');
  while (frames === 0) await new Promise((done) => setTimeout(done, 5));
  return { pid: receiver.child.pid, send: (k) => api.post('poster', chat, `floor ${k}`), frames: () => frames - 1 };
}

/** The forwarder process on a channel of its own, one ws client on it; events are PUBLISHes of a post's fields. */
async function floorSide(redisUrl: string, closers: (() => Promise<unknown> | void)[]): Promise<Side> {
  const channel = `floor-${randomBytes(3).toString('hex')}`;
  const child: ChildProcess = fork(resolve(__dirname, 'forwarder.js'), [redisUrl, channel], { stdio: 'ignore' });
  closers.push(() => void child.kill());
  const { port } = await new Promise<{ port: number }>((done, fail) => {
    child.once('message', (message) => done(message as { port: number }));
    child.once('exit', (code) => fail(new Error(`forwarder exited (${code})`)));
  });
  const socket = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((done) => socket.once('open', done));
  closers.push(() => socket.close());
  let frames = 0;
  socket.on('message', () => frames++);
  const publisher = new Redis(redisUrl);
  closers.push(() => publisher.quit());
  const post = (k: number) =>
    JSON.stringify({ id: randomBytes(16).toString('hex'), chatId: channel, senderId: 'poster', content: `floor ${k}`, createdAt: new Date().toISOString() });
  return { pid: child.pid, send: (k) => publisher.publish(channel, post(k)), frames: () => frames };
}
