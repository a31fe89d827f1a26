import { randomBytes } from 'node:crypto';
import type { Client as WsClient } from 'graphql-ws';
import type { RedisTarget } from '../src/infrastructure/redis/redis-connections';
import { Api } from './cluster-figures';
import { redisEnv, runCommand, startInstance, type Instance } from './processes';
import { Scrape } from './scrape';

export interface SpreadFigures {
  users: number;
  chats: number;
  posts: number;
  /** The measured posts by chat id (every chat gets ⌊posts / chats⌋ or one more). */
  postsByChat: Map<string, number>;
  /** One row per receiver. */
  receivers: {
    users: number;
    /** Chats with a participant connected here. */
    chatsNeeded: number;
    /** Posts of those chats: the rows this receiver's clients needed. */
    rowsNeeded: number;
    heardNeeded: number;
    heardForNothing: number;
    /** A frame per post to each local participant (`messageAdded`), and one more to each who did not send it (`chatMessageNotification`). */
    framesNeeded: number;
    framesSent: number;
  }[];
}

const ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { id cursor } }';
const NOTIFIED = 'subscription($a: String) { chatMessageNotification(after: $a) { chatId cursor } }';
const POSTERS = 8;
const FRAMES_TIMEOUT_MS = 120_000;

/** Called just before the measured posts go out, and once every frame they make has arrived. */
export interface SpreadWindow {
  before(): Promise<void>;
  after(): Promise<void>;
}

/**
 * DESIGN.md §3–§4 "Interest, not broadcast": users spread over receivers, each receiver should hear the
 * rows of its own clients' chats only (about a third of them, plus the chats whose participants sit on
 * several receivers), where a broadcast would bring every row to every receiver.
 *
 * `users` users are connected round-robin to `receivers` receivers, each with one connection carrying
 * `chatMessageNotification` and `messageAdded` of each of its chats; `chats` chats of 2 or 3 users each
 * (drawn from a fixed seed). A post to every chat proves every subscription live; then `posts` posts
 * go out spread over the chats, each by one of its participants, and each receiver's counters are read
 * before and after.
 */
export async function measureInterestSpread(
  databaseUrl: string,
  redis: RedisTarget,
  secret: string,
  options: { users: number; chats: number; receivers: number; posts: number },
  window?: SpreadWindow,
): Promise<SpreadFigures> {
  const env = { DATABASE_URL: databaseUrl, ...redisEnv(redis), AUTH_JWT_SECRET: secret, REDIS_CHANNEL_PREFIX: `spread-${randomBytes(3).toString('hex')}:` };
  if ((await runCommand(['migrate'], env)) !== 0) throw new Error('parley migrate failed');
  const instances: Instance[] = [];
  const clients: WsClient[] = [];
  try {
    const started = await Promise.all([
      startInstance('sender', env),
      startInstance('relay', env),
      ...Array.from({ length: options.receivers }, () => startInstance('receiver', env)),
    ]);
    instances.push(...started);
    const [sender, , ...receivers] = started as [Instance, Instance, ...Instance[]];
    const api = new Api(sender.url, secret);
    const run = randomBytes(3).toString('hex');
    const users = Array.from({ length: options.users }, (_, i) => `spread-${run}-${i}`);
    const receiverOf = (user: number) => user % options.receivers;
    const random = mulberry32(20261206);
    const members = Array.from({ length: options.chats }, (_, k) => pick(options.users, 2 + (k % 2), random));
    const chatIds = await Promise.all(members.map((m) => api.createChat(users[m[0]!]!, m.slice(1).map((u) => users[u]!))));

    // Frames each client got, by receiver.
    const framesAt = new Array<number>(options.receivers).fill(0);
    let onFrame: () => void = () => undefined;
    await Promise.all(
      users.map(async (user, u) => {
        const client = await api.client(receivers[receiverOf(u)]!, user);
        clients.push(client);
        const head = await api.head(user);
        const sink = {
          next: () => (framesAt[receiverOf(u)]!++, onFrame()),
          error: (error: unknown) => process.stderr.write(`spread subscriber ${user}: ${JSON.stringify(error)}\n`),
          complete: () => undefined,
        };
        client.subscribe({ query: NOTIFIED, variables: { a: head } }, sink);
        members.forEach((m, k) => (m.includes(u) ? client.subscribe({ query: ADDED, variables: { c: chatIds[k], a: head } }, sink) : undefined));
      }),
    );

    // What each receiver's clients need of one post to chat k by user `by`.
    const needOf = (k: number, by: number) => {
      const rows = new Array<number>(options.receivers).fill(0);
      const frames = new Array<number>(options.receivers).fill(0);
      for (const r of new Set(members[k]!.map(receiverOf))) rows[r] = 1;
      for (const u of members[k]!) frames[receiverOf(u)]! += u === by ? 1 : 2;
      return { rows, frames };
    };
    const waitForFrames = async (expected: number[]) => {
      const done = () => framesAt.every((count, r) => count >= expected[r]!);
      if (done()) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`frames by receiver: ${framesAt.join(', ')} of ${expected.join(', ')}`)), FRAMES_TIMEOUT_MS);
        onFrame = () => (done() ? (clearTimeout(timer), resolve()) : undefined);
      });
      onFrame = () => undefined;
    };
    const postAll = async (plan: { k: number; by: number }[]) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: POSTERS }, async () => {
          while (next < plan.length) {
            const { k, by } = plan[next++]!;
            await api.post(users[by]!, chatIds[k]!, 'spread');
          }
        }),
      );
    };
    const total = (plan: { k: number; by: number }[], kind: 'rows' | 'frames') =>
      plan.reduce((sum, { k, by }) => needOf(k, by)[kind].map((n, r) => n + sum[r]!), new Array<number>(options.receivers).fill(0));

    // Every subscription live: a post to each chat reaches every participant.
    const warmUp = members.map((m, k) => ({ k, by: m[0]! }));
    await postAll(warmUp);
    await waitForFrames(total(warmUp, 'frames'));

    const before = await Promise.all(receivers.map((receiver) => Scrape.of(receiver)));
    const framesBefore = [...framesAt];
    await window?.before();
    const plan = Array.from({ length: options.posts }, (_, i) => {
      const k = i % options.chats;
      return { k, by: members[k]![Math.floor(i / options.chats) % members[k]!.length]! };
    });
    await postAll(plan);
    const framesNeeded = total(plan, 'frames');
    await waitForFrames(framesNeeded.map((n, r) => n + framesBefore[r]!));
    await window?.after();
    const postsByChat = new Map<string, number>();
    for (const { k } of plan) postsByChat.set(chatIds[k]!, (postsByChat.get(chatIds[k]!) ?? 0) + 1);
    const after = await Promise.all(receivers.map((receiver) => Scrape.of(receiver)));
    const rowsNeeded = total(plan, 'rows');
    const diff = (r: number, name: string, labels?: string) => after[r]!.value(name, labels) - before[r]!.value(name, labels);
    return {
      users: options.users,
      chats: options.chats,
      posts: options.posts,
      postsByChat,
      receivers: receivers.map((_, r) => ({
        users: users.filter((_, u) => receiverOf(u) === r).length,
        chatsNeeded: members.filter((m) => m.some((u) => receiverOf(u) === r)).length,
        rowsNeeded: rowsNeeded[r]!,
        heardNeeded: diff(r, 'parley_receiver_events_heard_total', 'needed="yes"'),
        heardForNothing: diff(r, 'parley_receiver_events_heard_total', 'needed="no"'),
        framesNeeded: framesNeeded[r]!,
        framesSent: diff(r, 'parley_frames_sent_total'),
      })),
    };
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
    await Promise.all(instances.map((instance) => instance.stop()));
  }
}

/** `count` distinct numbers below `n`. */
function pick(n: number, count: number, random: () => number): number[] {
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(Math.floor(random() * n));
  return [...chosen];
}

/** A small seeded generator: the same chats in every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
