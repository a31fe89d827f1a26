import { existsSync } from 'node:fs';
import Redis, { Cluster } from 'ioredis';
import { eventually } from '../support/eventually';
import { TestRedisCluster, type ClusterNodeInfo } from '../support/redis-cluster';

const SLOTS = 16_384;

/** The Redis Cluster harness does what the cluster fault tests lean on: a real cluster, and faults that really happen. */
describe('TestRedisCluster (a real local Redis Cluster and its faults)', () => {
  let cluster: TestRedisCluster;
  const clients: Array<Redis | Cluster> = [];

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ proxied: true });
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await cluster?.stop();
  });

  /** A plain connection to one node, through its proxy (the address the cluster announces), connected before use. */
  async function connectTo(node: ClusterNodeInfo, options: { commandTimeout?: number } = {}): Promise<Redis> {
    const client = new Redis({ host: node.host, port: node.port, lazyConnect: true, ...options });
    client.on('error', () => undefined);
    clients.push(client);
    // Connected before it subscribes: a subscribe queued while connecting fails ioredis's ready check.
    await client.connect();
    return client;
  }

  /** The events a plain subscriber connection emits, in order. */
  function eventsOf(client: Redis): string[] {
    const events: string[] = [];
    for (const event of ['moved', 'close', 'end', 'reconnecting', 'connect', 'ready', 'error']) client.on(event, () => events.push(event));
    return events;
  }

  /** A name (with `prefix` as its hash tag) whose slot `master` serves now. */
  async function nameServedBy(master: ClusterNodeInfo, prefix: string): Promise<{ name: string; slot: number }> {
    for (let i = 0; i < 1000; i++) {
      const name = `{${prefix}-${i}}`;
      const slot = await cluster.keySlot(name);
      if (master.slots.some(([from, to]) => from <= slot && slot <= to)) return { name, slot };
    }
    throw new Error(`no name for ${master.port}`);
  }

  it('forms 3 masters that each serve a third of the slots and have a replica, announced at the proxies’ ports', async () => {
    const masters = await cluster.masters();

    expect(masters).toHaveLength(3);
    const counts = masters.map((master) => master.slots.reduce((sum, [from, to]) => sum + to - from + 1, 0));
    expect(counts.reduce((a, b) => a + b)).toBe(SLOTS);
    for (const count of counts) expect(Math.abs(count - SLOTS / 3)).toBeLessThan(2);
    for (const master of masters) {
      expect(master.replicas).toHaveLength(1);
      expect(master.port).not.toBe(master.realPort);
    }
    expect(cluster.seeds).toHaveLength(6);
    const announced = (await cluster.nodesInfo()).map((node) => `redis://127.0.0.1:${node.port}`);
    expect(announced.sort()).toEqual([...cluster.seeds].sort());
  });

  it('carries an SPUBLISH to an SSUBSCRIBE through ioredis’s Cluster with sharded subscribers', async () => {
    const nodes = cluster.seeds.map((seed) => ({ host: new URL(seed).hostname, port: Number(new URL(seed).port) }));
    const subscriber = new Cluster(nodes, { shardedSubscribers: true });
    const publisher = new Cluster(nodes);
    for (const client of [subscriber, publisher]) {
      client.on('error', () => undefined);
      clients.push(client);
    }
    const heard: string[] = [];
    subscriber.on('smessage', (channel: string, text: string) => heard.push(`${channel} ${text}`));

    await subscriber.ssubscribe('{room-a}:events');
    expect(await publisher.spublish('{room-a}:events', 'hello')).toBe(1);

    await eventually(() => expect(heard).toEqual(['{room-a}:events hello']));
    const owner = await cluster.ownerOf(await cluster.keySlot('{room-a}:events'));
    const direct = await connectTo(owner);
    expect(await direct.call('PUBSUB', 'SHARDNUMSUB', '{room-a}:events')).toEqual(['{room-a}:events', 1]);
  });

  it('migrates a slot with its keys in place, and the old owner’s subscriber hears an unrequested sunsubscribe (ioredis: "moved")', async () => {
    const masters = await cluster.masters();
    const { name, slot } = await nameServedBy(masters[0]!, 'room-m');
    const source = await cluster.ownerOf(slot);
    const target = masters.find((master) => master.id !== source.id)!;
    const onSource = await connectTo(source);
    await onSource.set(`${name}:epoch`, '7');
    const subscriber = await connectTo(source);
    const events = eventsOf(subscriber);
    await subscriber.ssubscribe(`${name}:events`);

    const { keysMoved } = await cluster.migrateSlot(slot, target);

    expect(keysMoved).toBe(1);
    expect((await cluster.ownerOf(slot)).id).toBe(target.id);
    await eventually(() => expect(events).toEqual(['moved']));
    expect(subscriber.status).toBe('ready');
    expect(await onSource.call('PUBSUB', 'SHARDNUMSUB', `${name}:events`)).toEqual([`${name}:events`, 0]);
    await expect(onSource.spublish(`${name}:events`, 'late')).rejects.toThrow(`MOVED ${slot} 127.0.0.1:${target.port}`);
    expect(await (await connectTo(target)).get(`${name}:epoch`)).toBe('7');
  });

  it('fails over by hand: the replica becomes master, the master its replica, and the old master’s subscriber hears "moved"', async () => {
    const [master] = await cluster.masters();
    const replica = master!.replicas[0]!;
    const { name, slot } = await nameServedBy(master!, 'room-f');
    const onMaster = await connectTo(master!);
    await onMaster.set(`${name}:epoch`, '3');
    const subscriber = await connectTo(master!);
    const events = eventsOf(subscriber);
    await subscriber.ssubscribe(`${name}:events`);

    const { newMaster, formerMaster, tookMs } = await cluster.failover(master!);

    expect(tookMs).toBeGreaterThan(0);
    expect(newMaster.id).toBe(replica.id);
    expect(newMaster.role).toBe('master');
    expect(formerMaster).toMatchObject({ id: master!.id, role: 'replica', masterId: replica.id, slots: [] });
    expect((await cluster.ownerOf(slot)).id).toBe(replica.id);
    await eventually(() => expect(events).toEqual(['moved']));
    expect(subscriber.status).toBe('ready');
    await expect(onMaster.get(`${name}:epoch`)).rejects.toThrow(`MOVED ${slot} 127.0.0.1:${replica.port}`);
    expect(await (await connectTo(newMaster)).get(`${name}:epoch`)).toBe('3');
  });

  it('blackholes a node: a command through its proxy times out while the node runs on, and answers again once restored', async () => {
    const [node] = await cluster.masters();
    const client = await connectTo(node!, { commandTimeout: 500 });
    expect(await client.ping()).toBe('PONG');

    cluster.blackhole(node!);
    try {
      await expect(client.ping()).rejects.toThrow(/timed out/i);
      expect(() => process.kill(node!.pid, 0)).not.toThrow();
      // Straight to its own port, past the proxy: alive, and the cluster (whose bus is direct) is whole.
      const direct = new Redis({ host: node!.host, port: node!.realPort, lazyConnect: true });
      clients.push(direct);
      await direct.connect();
      expect(await direct.call('CLUSTER', 'INFO')).toMatch(/cluster_state:ok/);
    } finally {
      cluster.restore(node!);
    }

    await eventually(async () => expect(await client.ping()).toBe('PONG'));
  });

  it('kills a master with SIGKILL: its replica takes its slots, and a write its replica acknowledged (WAIT) survives', async () => {
    const master = (await cluster.masters()).find((candidate) => candidate.replicas.length > 0)!;
    const replica = master.replicas[0]!;
    const { name, slot } = await nameServedBy(master, 'room-k');
    const onMaster = await connectTo(master);
    await onMaster.set(`${name}:epoch`, '9');
    expect(await onMaster.call('WAIT', 1, 1000)).toBe(1);
    const subscriber = await connectTo(master);
    const events = eventsOf(subscriber);
    await subscriber.ssubscribe(`${name}:events`);

    const { newMaster, promotedAfterMs } = await cluster.killMaster(master);

    expect(() => process.kill(master.pid, 0)).toThrow();
    expect(newMaster.id).toBe(replica.id);
    expect((await cluster.ownerOf(slot)).id).toBe(replica.id);
    expect(promotedAfterMs).toBeGreaterThan(2000);
    expect((await cluster.masters()).map((each) => each.id)).not.toContain(master.id);
    expect(await (await connectTo(newMaster)).get(`${name}:epoch`)).toBe('9');
    // The old master's subscriber loses its connection (no push): it closes and reconnects in vain.
    expect(events).toContain('close');
    expect(events).not.toContain('moved');
  });
});

describe('TestRedisCluster.stop', () => {
  it('given a default cluster (nodes on their own ports), kills every node and removes its folder, and may be called twice', async () => {
    const cluster = await TestRedisCluster.start();
    let nodes: ClusterNodeInfo[] = [];
    try {
      nodes = await cluster.nodesInfo();
      expect(nodes).toHaveLength(6);
      for (const node of nodes) expect(node.port).toBe(node.realPort);
      expect(cluster.seeds.sort()).toEqual(nodes.map((node) => `redis://127.0.0.1:${node.port}`).sort());
      expect(existsSync(cluster.dir)).toBe(true);
    } finally {
      await cluster.stop();
    }

    for (const node of nodes) expect(() => process.kill(node.pid, 0)).toThrow();
    expect(existsSync(cluster.dir)).toBe(false);
    await cluster.stop();
  });
});
