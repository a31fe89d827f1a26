import { randomBytes } from 'node:crypto';
import { epochKey } from '../../src/application';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { E2E_ENV, ParleyInstances } from '../support/parley-instances';
import { runParley } from '../support/parley-process';
import { TestRedisCluster, type ClusterNodeInfo } from '../support/redis-cluster';
import { createTestDatabase, withClient, type TestDatabase } from '../support/test-database';
import { tokenFor } from '../support/test-server';
import { subscribe, type Received } from '../support/ws-client';

const MESSAGE_ADDED = 'subscription($c: ID!, $a: String) { messageAdded(chatId: $c, after: $a) { seq content cursor } }';
const NOTIFICATIONS = 'subscription($a: String) { chatMessageNotification(after: $a) { chatId message { seq } cursor } }';
const POST = 'mutation($c: ID!, $t: String!) { createMessage(createMessageInput: { chatId: $c, content: $t }) { seq cursor } }';
const POSTS = 40;
/** A promotion takes about 4 s after a SIGKILL; catching up after it a few more. */
const RECOVERY_MS = 45_000;

/**
 * DESIGN.md §3 on a real Redis Cluster (3 masters, 3 replicas): a sender, 2 receivers and 2 relays
 * with REDIS_CLUSTER_URLS, graphql-ws clients on both receivers, and the faults clusters have (a slot
 * migrated in place, a manual failover, a master killed) while posts flow. Every client gets every
 * post once, in order.
 */
describe('Parley on a Redis Cluster', () => {
  let database: TestDatabase;
  let cluster: TestRedisCluster;
  let env: NodeJS.ProcessEnv;
  const prefix = `e2ec-${randomBytes(3).toString('hex')}:`;
  const instances = new ParleyInstances(() => env);
  let alice: string;
  let bob: string;

  const url = (name: string) => instances.url(name);
  const client = (name: string, token: string) => instances.client(name, token);

  beforeAll(async () => {
    // Behind proxies, so that a master can be cut off without closing its sockets
    [database, cluster] = await Promise.all([createTestDatabase(), TestRedisCluster.start({ proxied: true })]);
    env = {
      DATABASE_URL: database.url,
      REDIS_CLUSTER_URLS: cluster.seeds.join(','),
      REDIS_CHANNEL_PREFIX: prefix,
      ...E2E_ENV,
    };
    await instances.migrateAndStart([
      ['sender', 'sender'],
      ['receiver-1', 'receiver'],
      ['receiver-2', 'receiver'],
      ['relay-1', 'relay'],
      ['relay-2', 'relay'],
    ]);
    [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);
  }, 120_000);

  afterEach(async () => {
    await instances.disposeClients();
  });

  afterAll(async () => {
    await instances.stopAll();
    await cluster?.stop();
    await database?.drop();
  });

  const head = async () => (await ok(url('sender'), bob, '{ head }')).head as string;
  const seqs = (received: Received) => received.items.map((item: { seq: number }) => item.seq);
  const notifiedSeqs = (received: Received, chatId: string) =>
    received.items.filter((item: { chatId: string }) => item.chatId === chatId).map((item: { message: { seq: number } }) => item.message.seq);
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  const metric = async (name: string, pattern: RegExp) => {
    const text = await (await fetch(url(name).replace('/graphql', '/metrics'))).text();
    return Number(text.match(pattern)?.[1] ?? 0);
  };

  const leaderOf = (partition: number) => instances.leaderOf(database.url, partition);
  const leadershipOf = (partition: number) => instances.leadershipOf(database.url, partition);

  interface ChatOnACluster {
    chatId: string;
    partition: number;
    slot: number;
    owner: ClusterNodeInfo;
  }

  /** A new chat of alice and bob, and the master that owns its partition's slot. */
  async function chatOnACluster(): Promise<ChatOnACluster> {
    const chatId = (await ok(url('sender'), alice, 'mutation { createChat(input: { name: "on a cluster", participantIds: ["bob"] }) { id } }')).createChat.id as string;
    const partition = await withClient(database.url, async (c) => (await c.query<{ partition: number }>('select partition from chats where id = $1', [chatId])).rows[0]!.partition);
    const slot = await cluster.keySlot(`${prefix}${epochKey(partition)}`);
    return { chatId, partition, slot, owner: await cluster.ownerOf(slot) };
  }

  /**
   * Posts POSTS messages while a chat-scoped subscriber on each receiver and a user-scoped one watch: a
   * quarter before the fault, half while it runs, the rest after it; then checks that everyone got every
   * post once, in order.
   */
  async function postsThrough(fault: (chat: ChatOnACluster) => Promise<void>): Promise<void> {
    const chat = await chatOnACluster();
    const after = await head();
    const onFirst = subscribe(client('receiver-1', bob), MESSAGE_ADDED, { c: chat.chatId, a: after });
    const onSecond = subscribe(client('receiver-2', alice), MESSAGE_ADDED, { c: chat.chatId, a: after });
    const notified = subscribe(client('receiver-2', bob), NOTIFICATIONS, { a: after });
    const posts = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) await postUntilTaken(chat.chatId, `p${i}`);
    };
    await posts(1, POSTS / 4);
    await onFirst.count(POSTS / 4, RECOVERY_MS);
    await Promise.all([fault(chat), posts(POSTS / 4 + 1, (3 * POSTS) / 4)]);
    await posts((3 * POSTS) / 4 + 1, POSTS);
    for (const received of [onFirst, onSecond]) {
      await received.count(POSTS, RECOVERY_MS);
      expect(seqs(received)).toEqual(upTo(POSTS));
    }
    await eventually(() => expect(notifiedSeqs(notified, chat.chatId)).toEqual(upTo(POSTS)), RECOVERY_MS);
  }

  /** A sender writes to PostgreSQL only: Redis faults never refuse a post. One that is refused anyway fails the test. */
  async function postUntilTaken(chatId: string, text: string): Promise<void> {
    await ok(url('sender'), alice, POST, { c: chatId, t: text });
  }

  it('delivers every post once, in order, while the slot of the chat\'s partition is migrated to another master, and counts the sunsubscribe it saw', async () => {
    const before = await metric('receiver-1', /^parley_redis_partitions_moved_total\{reason="sunsubscribe"\} (\S+)$/m) +
      await metric('receiver-2', /^parley_redis_partitions_moved_total\{reason="sunsubscribe"\} (\S+)$/m);
    await postsThrough(async ({ slot, owner }) => {
      const target = (await cluster.masters()).find((master) => master.id !== owner.id)!;
      await cluster.migrateSlot(slot, target);
    });
    const after = await metric('receiver-1', /^parley_redis_partitions_moved_total\{reason="sunsubscribe"\} (\S+)$/m) +
      await metric('receiver-2', /^parley_redis_partitions_moved_total\{reason="sunsubscribe"\} (\S+)$/m);
    expect(after).toBeGreaterThan(before);
  });

  it('delivers every post once, in order, across a manual failover of the chat\'s master', async () => {
    await postsThrough(({ owner }) => cluster.failover(owner).then(() => undefined));
  });

  it('delivers every post once, in order, when the chat\'s master is killed and its replica promoted', async () => {
    await postsThrough(({ owner }) => cluster.killMaster(owner).then(() => undefined));
  });

  it('notices a master cut off without closing its sockets by its missing ticks, and delivers every post once it answers again', async () => {
    await postsThrough(async ({ partition, owner }) => {
      const silent = new RegExp(`"partition":${partition},[^\\n]*no progress tick from a followed partition`);
      const receiver = instances.get('receiver-1').process;
      cluster.blackhole(owner);
      try {
        await eventually(() => expect(receiver.log).toMatch(silent), RECOVERY_MS);
      } finally {
        cluster.restore(owner);
      }
    });
  });

  it('delivers every post once, in order, when the relay leading the chat is frozen (SIGSTOP) and later thawed, while the other relay leads other partitions', async () => {
    await postsThrough(async ({ partition }) => {
      const { relay: frozen, epoch } = await leaderOf(partition);
      frozen.process.child.kill('SIGSTOP');
      try {
        await eventually(async () => expect((await leadershipOf(partition))?.epoch).toBeGreaterThan(epoch), RECOVERY_MS);
      } finally {
        frozen.process.child.kill('SIGCONT');
      }
    });
  });

  it('delivers every post once, in order, when the relay leading the chat is killed (SIGKILL)', async () => {
    await postsThrough(async ({ partition }) => {
      const { relay: leader, epoch } = await leaderOf(partition);
      await instances.kill(leader.name);
      await eventually(async () => expect((await leadershipOf(partition))?.epoch).toBeGreaterThan(epoch), RECOVERY_MS);
    });
  });

  it('re-publishes a range on the cluster with `parley outbox replay`, which receivers recognise as already delivered', async () => {
    const { chatId } = await chatOnACluster();
    const after = await head();
    const watcher = subscribe(client('receiver-1', bob), MESSAGE_ADDED, { c: chatId, a: after });
    for (let i = 1; i <= 5; i++) await postUntilTaken(chatId, `r${i}`);
    await watcher.count(5, RECOVERY_MS);

    const replayed = await runParley(['outbox', 'replay', '--from', after], env);
    expect(replayed.code).toBe(0);
    // From the head before the posts, inclusive: that row and the five posts
    expect(replayed.output).toMatch(/re-published 6 outbox rows/);

    await postUntilTaken(chatId, 'after the replay');
    await watcher.count(6, RECOVERY_MS);
    expect(seqs(watcher)).toEqual(upTo(6));
  });
});
