import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import WebSocket from 'ws';
import { signDevelopmentToken } from '../src/infrastructure/auth/development-token';
import { freePort, TestRedisServer } from '../test/support/redis-server';
import { cpuMillis, runCommand, startInstance, type Instance } from './processes';
import { readRedisInfo } from './redis-info';

export interface PresenceOptions {
  users: number;
  chats: number;
  typists: number;
  idleSeconds: number;
  typingSeconds: number;
  /** Each typist's calls: one per this many ms (above the 2 s throttle, so every call goes out). */
  typingEveryMs: number;
  /** Typing before the measured window, left out of the figures (first calls warm every path up). */
  warmUpSeconds: number;
}

export interface PresenceFigures {
  options: PresenceOptions;
  receivers: number;
  intervalMs: number;
  /** Per window: the idle baseline (no users), 5k users idle, 1k of them typing. */
  windows: Record<'baseline' | 'idle' | 'typing', WindowFigures>;
  typing: { calls: number; framesPerSecond: number; p50Ms: number; p99Ms: number; maxMs: number; answerP50Ms: number; answerP99Ms: number };
}

interface WindowFigures {
  seconds: number;
  /** Calls per second by Redis command, from INFO commandstats (script internals included). */
  redisCommandsPerSecond: Record<string, number>;
  /** Redis server CPU, ms per s. */
  redisCpuMsPerSecond: number;
  /** Each receiver's CPU, ms per s. */
  receiverCpuMsPerSecond: number[];
  /** The sender's (and relay's) CPU, and this load generator's, ms per s: the machine's other users. */
  senderCpuMsPerSecond: number;
  loadCpuMsPerSecond: number;
  /** Rows inserted, updated and deleted in the bench database (pg_stat_database). */
  rowsWritten: number;
}

const TYPING = 'subscription($c: ID!) { typingIndicator(chatId: $c) { chatId userId isTyping } }';
const SET_TYPING = 'mutation($c: ID!, $t: Boolean) { setTyping(chatId: $c, isTyping: $t) }';
const INTERVAL_MS = 10_000;

/**
 * DESIGN.md §10 costs: `users` connected users (one socket each, spread over two receivers, each
 * subscribed to the typing of its chat) idle for `idleSeconds`, then `typists` of them typing in
 * `chats` chats. A private Redis, so its command counts and CPU are Parley's alone; an idle window of
 * the same length without users first, as the baseline of what PostgreSQL and Redis see anyway
 * (relay ticks, leadership, probes).
 */
export async function measurePresence(databaseUrl: string, secret: string, options: PresenceOptions): Promise<PresenceFigures> {
  const redis = new TestRedisServer(await freePort());
  await redis.start();
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, REDIS_CLUSTER_URLS: '', AUTH_JWT_SECRET: secret, PRESENCE_INTERVAL_MS: String(INTERVAL_MS) };
  const instances: Instance[] = [];
  const sockets: WebSocket[] = [];
  const admin = new Redis(redis.url);
  try {
    if ((await runCommand(['migrate'], env)) !== 0) throw new Error('parley migrate failed');
    instances.push(...(await Promise.all([startInstance('sender,relay', env), startInstance('receiver', env), startInstance('receiver', env)])));
    const [hub, ...receivers] = instances as [Instance, Instance, Instance];
    const call = graphqlCaller(hub.url, secret);
    const users = Array.from({ length: options.users }, (_, i) => `u${i}`);
    const perChat = Math.ceil(options.users / options.chats);
    const chatOf: string[] = [];
    for (let c = 0; c < options.chats; c++) {
      const members = users.slice(c * perChat, (c + 1) * perChat);
      const data = await call(members[0]!, 'mutation($p: [ID!]!) { createChat(input: { name: "presence", participantIds: $p }) { id } }', { p: members.slice(1) });
      for (const _ of members) chatOf.push(data.createChat.id as string);
    }
    const measure = windowMeasurer(admin, databaseUrl, receivers, hub);
    // PostgreSQL's statistics of the set-up's writes reach pg_stat_database within about 10 s (an idle
    // backend's flush): waited out, so that the baseline counts only what happens while nobody is there.
    await idle(11);

    const baseline = await measure(options.idleSeconds, () => idle(options.idleSeconds));

    const latencies: number[] = [];
    const answers: number[] = [];
    const lastCall = new Map<string, number>();
    let typingFrames = 0;
    for (let start = 0; start < users.length; start += 250) {
      await Promise.all(
        users.slice(start, start + 250).map(async (userId, k) => {
          const i = start + k;
          const socket = await openSocket(receivers[i % 2]!, await signDevelopmentToken(secret, userId), chatOf[i]!, (frame) => {
            if (!frame.isTyping || !measuring) return;
            typingFrames++;
            const sent = lastCall.get(`${frame.chatId} ${frame.userId}`);
            if (sent !== undefined) latencies.push(performance.now() - sent);
          });
          sockets.push(socket);
        }),
      );
    }
    const idleWindow = await measure(options.idleSeconds, () => idle(options.idleSeconds));

    // Typists: the first users of each chat, as evenly as the numbers allow.
    const typistsPerChat = Math.max(1, Math.round(options.typists / options.chats));
    const typists = users.filter((_, i) => i % perChat < typistsPerChat).slice(0, options.typists);
    let calls = 0;
    let measuring = false;
    const typingDone = typeAway(typists, options, (userId) => chatOf[users.indexOf(userId)]!, async (userId, chatId, isTyping) => {
      const calledAt = performance.now();
      if (isTyping) lastCall.set(`${chatId} ${userId}`, calledAt);
      await call(userId, SET_TYPING, isTyping ? { c: chatId } : { c: chatId, t: false });
      if (measuring && isTyping) {
        calls++;
        answers.push(performance.now() - calledAt);
      }
    });
    await idle(options.warmUpSeconds);
    measuring = true;
    latencies.length = 0;
    typingFrames = 0;
    const typingWindow = await measure(options.typingSeconds, () => idle(options.typingSeconds));
    const framesInWindow = typingFrames;
    measuring = false;
    await typingDone;
    latencies.sort((a, b) => a - b);
    const quantile = (q: number) => quantileOf(latencies, q);
    return {
      options,
      receivers: receivers.length,
      intervalMs: INTERVAL_MS,
      windows: { baseline, idle: idleWindow, typing: typingWindow },
      typing: {
        calls,
        framesPerSecond: Math.round(framesInWindow / options.typingSeconds),
        p50Ms: quantile(0.5),
        p99Ms: quantile(0.99),
        maxMs: Math.round(latencies[latencies.length - 1] ?? 0),
        answerP50Ms: quantileOf(answers, 0.5),
        answerP99Ms: quantileOf(answers, 0.99),
      },
    };
  } finally {
    for (const socket of sockets) socket.terminate();
    await Promise.all(instances.map((instance) => instance.stop()));
    await admin.quit();
    await redis.stop();
  }
}

/**
 * Each typist calls `setTyping` every `typingEveryMs`, their starts spread over one period as people's
 * are, through the warm-up and the window, then stops; resolves once all have stopped.
 */
function typeAway(
  typists: string[],
  options: PresenceOptions,
  chatOf: (userId: string) => string,
  setTyping: (userId: string, chatId: string, isTyping: boolean) => Promise<void>,
): Promise<unknown> {
  const until = performance.now() + (options.warmUpSeconds + options.typingSeconds) * 1000;
  return Promise.all(
    typists.map(async (userId, k) => {
      const chatId = chatOf(userId);
      let next = performance.now() + (k * options.typingEveryMs) / typists.length;
      while (next < until) {
        // The pace of the load, not a wait for an effect.
        await new Promise((done) => setTimeout(done, Math.max(0, next - performance.now())));
        await setTyping(userId, chatId, true);
        next += options.typingEveryMs;
      }
      await setTyping(userId, chatId, false);
    }),
  );
}

/** The figures of one window in which `load` runs. */
function windowMeasurer(admin: Redis, databaseUrl: string, receivers: Instance[], sender: Instance) {
  return async (seconds: number, load: () => Promise<void>): Promise<WindowFigures> => {
    await admin.config('RESETSTAT');
    const cpuBefore = (await redisReading(admin)).cpuMs;
    const rowsBefore = await rowsWritten(databaseUrl);
    const receiverBefore = receivers.map((receiver) => cpuMillis(receiver.child.pid) ?? 0);
    const senderBefore = cpuMillis(sender.child.pid) ?? 0;
    const loadBefore = process.cpuUsage();
    const started = performance.now();
    await load();
    const elapsed = (performance.now() - started) / 1000;
    const receiverAfter = receivers.map((receiver) => cpuMillis(receiver.child.pid) ?? 0);
    const senderAfter = cpuMillis(sender.child.pid) ?? 0;
    const loadUsed = process.cpuUsage(loadBefore);
    const { calls: commands, cpuMs: cpuAfter } = await redisReading(admin);
    const rowsAfter = await rowsWritten(databaseUrl);
    const perSecond = (value: number) => Math.round((value / elapsed) * 100) / 100;
    return {
      seconds: Math.round(elapsed),
      redisCommandsPerSecond: Object.fromEntries(Object.entries(commands).map(([name, count]) => [name, perSecond(count)])),
      redisCpuMsPerSecond: perSecond(cpuAfter - cpuBefore),
      receiverCpuMsPerSecond: receiverAfter.map((after, i) => perSecond(after - receiverBefore[i]!)),
      senderCpuMsPerSecond: perSecond(senderAfter - senderBefore),
      loadCpuMsPerSecond: perSecond((loadUsed.user + loadUsed.system) / 1000),
      rowsWritten: rowsAfter - rowsBefore,
    };
  };
}

/** Sorts in place. */
function quantileOf(values: number[], q: number): number {
  if (values.length === 0) return 0;
  values.sort((a, b) => a - b);
  return Math.round(values[Math.min(values.length - 1, Math.floor(q * values.length))]! * 10) / 10;
}

function idle(seconds: number): Promise<void> {
  // The length of the window: nothing is driven, what runs by itself is measured.
  return new Promise((done) => setTimeout(done, seconds * 1000));
}

/** Calls so far by command, and CPU in ms; the bench's own INFO and CONFIG are not Parley's. */
async function redisReading(admin: Redis): Promise<{ calls: Record<string, number>; cpuMs: number }> {
  const { cpuSeconds, commands } = await readRedisInfo(admin);
  const calls: Record<string, number> = {};
  for (const [name, { calls: count }] of commands) if (name !== 'info' && name !== 'config') calls[name] = count;
  return { calls, cpuMs: cpuSeconds * 1000 };
}

/** Rows written to the bench database so far, once this backend's and the others' statistics are flushed. */
async function rowsWritten(databaseUrl: string): Promise<number> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ written: string }>(
      'select tup_inserted + tup_updated + tup_deleted as written from pg_stat_database where datname = current_database()',
    );
    return Number(rows[0]!.written);
  } finally {
    await client.end();
  }
}

/**
 * GraphQL over HTTP on kept-alive connections through node's own http (fetch costs this load generator
 * several times the CPU per call, on the machine it measures on).
 */
function graphqlCaller(url: string, secret: string) {
  const tokens = new Map<string, string>();
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const target = new URL(url);
  return async (userId: string, query: string, variables: Record<string, unknown>): Promise<any> => {
    if (!tokens.has(userId)) tokens.set(userId, await signDevelopmentToken(secret, userId));
    const body = JSON.stringify({ query, variables });
    const text = await new Promise<string>((resolve, reject) => {
      const request = httpRequest(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${tokens.get(userId)}` } },
        (response) => {
          let data = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (data += chunk));
          response.on('end', () => resolve(data));
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
    const answer = JSON.parse(text) as { data?: any; errors?: unknown };
    if (answer.errors) throw new Error(JSON.stringify(answer.errors));
    return answer.data;
  };
}

type Frame = { chatId: string; userId: string; isTyping: boolean };

/**
 * The frame's fields, read from the server's JSON without parsing it all: at ~10,000 frames a second a
 * full parse per frame made this load generator a large share of the machine it measures on.
 */
function typingFrame(text: string): Frame {
  // The bench's own ids hold no quote or escape.
  const field = (name: string) => {
    const key = `"${name}":"`;
    const at = text.indexOf(key) + key.length;
    return text.slice(at, text.indexOf('"', at));
  };
  const isTyping = text.includes('"isTyping":true');
  return { chatId: field('chatId'), userId: field('userId'), isTyping };
}

/** One user's socket, subscribed to its chat's typing once acknowledged; resolves once the subscribe is sent. */
function openSocket(receiver: Instance, token: string, chatId: string, onFrame: (frame: Frame) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(receiver.url.replace(/^http/, 'ws'), 'graphql-transport-ws', { perMessageDeflate: false });
    socket.once('error', reject);
    socket.once('close', (code) => reject(new Error(`socket closed with ${code} before connection_ack`)));
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    socket.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"connection_ack"')) {
        socket.send(JSON.stringify({ id: randomBytes(4).toString('hex'), type: 'subscribe', payload: { query: TYPING, variables: { c: chatId } } }));
        resolve(socket);
        return;
      }
      if (text.includes('"type":"next"')) onFrame(typingFrame(text));
    });
  });
}
