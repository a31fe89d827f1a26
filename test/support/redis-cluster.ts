import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import Redis from 'ioredis';
import { eventually } from './eventually';
import { freePort } from './redis-server';
import { TcpProxy, type BlackholeOptions } from './tcp-proxy';

const HOST = '127.0.0.1';
/** The cluster bus listens on the node's port + 10000 (Redis's default), which must be a port too. */
const BUS_PORT_OFFSET = 10_000;
const NODE_TIMEOUT_MS = 2000;
/** Bounds of the waits: generous for a noisy 2-core machine, still far below Jest's 60 s. */
const FORM_TIMEOUT_MS = 30_000;
const PROMOTION_TIMEOUT_MS = 30_000;
const FAILOVER_TIMEOUT_MS = 20_000;
const MIGRATION_TIMEOUT_MS = 15_000;
const LOG_LINES = 15;

/** A cluster node as the cluster describes it, with the process behind it. */
export interface ClusterNodeInfo {
  /** The node's cluster id (CLUSTER MYID). */
  id: string;
  host: string;
  /** The port the cluster announces for it: clients connect here (its proxy's port when proxied). */
  port: number;
  /** The port redis-server itself listens on (the same as `port` unless proxied). */
  realPort: number;
  /** The redis-server process. */
  pid: number;
  /** The node's place in `seeds` (and in the order of start), for `blackhole`/`restore`. */
  index: number;
  role: 'master' | 'replica';
  /** A replica's master; null for a master. */
  masterId: string | null;
  /** The inclusive slot ranges a master serves; empty for a replica. */
  slots: Array<[number, number]>;
  /** A master's replicas (their own `replicas` are empty); empty for a replica. */
  replicas: ClusterNodeInfo[];
}

export interface TestRedisClusterOptions {
  /** Masters, each with a third (or 1/n) of the slots; 3 by default (Redis needs at least 3). */
  masters?: number;
  /** Replicas per master; 1 by default. */
  replicasPerMaster?: number;
  /** Puts a `TcpProxy` in front of every node and has the cluster announce the proxy's port, for `blackhole`. */
  proxied?: boolean;
}

/** What `failover` did: the replica now master, the master now its replica, and how long the swap took. */
export interface FailoverResult {
  tookMs: number;
  newMaster: ClusterNodeInfo;
  formerMaster: ClusterNodeInfo;
}

/** One redis-server of the cluster: its process, ports and (when proxied) proxy. */
interface Node {
  index: number;
  realPort: number;
  /** Announced to clients: the proxy's port, or `realPort`. */
  port: number;
  child: ChildProcess;
  pid: number;
  proxy: TcpProxy | null;
  id: string;
  alive: boolean;
  /** A direct connection (never through the proxy) for the harness's own commands. */
  admin: Redis | null;
}

/** One line of CLUSTER NODES. */
interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string | null;
  slots: Array<[number, number]>;
}

/** What one node said in one round of polling. */
interface View {
  node: Node;
  state: string;
  lines: NodeLine[];
  /** A replica's `master_link_status` (`up`/`down`); null for a master. */
  replicationLink: string | null;
}

/**
 * util-linux's `setpriv --pdeathsig KILL` (then exec redis-server, same pid): a node dies with the process
 * that started it, so a Jest worker that crashes or is killed before `stop()` leaves no node behind.
 * (A `process.on('exit')` hook would not do: Jest gives a test file a process object of its own.)
 */
const DIE_WITH_PARENT = onPath('setpriv') ? ['setpriv', '--pdeathsig', 'KILL'] : [];

/**
 * A real Redis Cluster of the test's own (redis-server child processes on free ports, data in a fresh
 * temp folder), and the faults a cluster has: a master killed, a manual failover, a slot migrated in
 * place, a node blackholed behind a proxy. Every fault waits until the whole cluster agrees again
 * (cluster_state:ok on every live node, one view of roles and slots, every replica's link up). The
 * harness's own commands go straight to each node's port, never through a proxy.
 *
 *   const cluster = await TestRedisCluster.start({ proxied: true });  // ~3 s
 *   env.REDIS_CLUSTER_URLS = cluster.seeds.join(',');
 *   afterAll(() => cluster.stop());
 */
export class TestRedisCluster {
  private stopped: Promise<void> | null = null;

  private constructor(
    /** The temp folder with every node's nodes-P.conf and P.log; removed by `stop`. */
    readonly dir: string,
    private readonly nodes: Node[],
    /** Whether every node is behind a `TcpProxy` (see `blackhole`). */
    readonly proxied: boolean,
  ) {}

  /** `redis://127.0.0.1:P` for each node, in start order (proxy ports when proxied): what REDIS_CLUSTER_URLS gets. */
  get seeds(): string[] {
    return this.nodes.map((node) => `redis://${HOST}:${node.port}`);
  }

  /** Starts `masters × (1 + replicasPerMaster)` nodes, creates the cluster with redis-cli and waits until every node agrees and every replica is in sync. */
  static async start(options: TestRedisClusterOptions = {}): Promise<TestRedisCluster> {
    const masters = options.masters ?? 3;
    const replicasPerMaster = options.replicasPerMaster ?? 1;
    const proxied = options.proxied ?? false;
    if (masters < 3) throw new Error(`a Redis Cluster needs at least 3 masters, not ${masters}`);
    for (const binary of ['redis-server', 'redis-cli']) if (!onPath(binary)) throw new Error(`${binary} is not on the PATH (apt-get install redis-server)`);
    const dir = await mkdtemp(join(tmpdir(), 'parley-redis-cluster-'));
    const nodes: Node[] = [];
    const cluster = new TestRedisCluster(dir, nodes, proxied);
    try {
      const realPorts = await clusterPorts(masters * (1 + replicasPerMaster));
      for (const [index, realPort] of realPorts.entries()) {
        const proxy = proxied ? await TcpProxy.start(realPort) : null;
        try {
          nodes.push(startNode(dir, index, realPort, proxy));
        } catch (error) {
          await proxy?.stop();
          throw error;
        }
      }
      await cluster.waitFor('every node to answer', 10_000, async () => {
        for (const node of nodes) {
          node.id = String(await cluster.admin(node).call('CLUSTER', 'MYID'));
        }
      });
      await cluster.createWithRedisCli(replicasPerMaster);
      await cluster.waitFor('the cluster to form (cluster_state:ok, one view of the slots, replicas in sync)', FORM_TIMEOUT_MS, async () => {
        const views = await cluster.agreedViews();
        const lines = views[0]!.lines;
        if (lines.filter((line) => line.flags.includes('master') && line.slots.length > 0).length !== masters) throw new Error(`not ${masters} masters with slots yet`);
        if (lines.filter((line) => line.flags.includes('slave')).length !== masters * replicasPerMaster) throw new Error(`not ${masters * replicasPerMaster} replicas yet`);
      });
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** The masters (not failed) as the cluster sees them now, each with its slots and replicas, by port. */
  async masters(): Promise<ClusterNodeInfo[]> {
    return (await this.topology()).filter((node) => node.role === 'master').sort((a, b) => a.port - b.port);
  }

  /** Every live node (masters and replicas) as the cluster sees them now. */
  async nodesInfo(): Promise<ClusterNodeInfo[]> {
    return this.topology();
  }

  /** The master that serves `slot` now. */
  async ownerOf(slot: number): Promise<ClusterNodeInfo> {
    const owner = (await this.masters()).find((master) => owns(master.slots, slot));
    if (!owner) throw new Error(`no master owns slot ${slot}`);
    return owner;
  }

  /** The slot of a key or shard channel (CLUSTER KEYSLOT, hash tags included). */
  async keySlot(key: string): Promise<number> {
    return Number(await this.admin(this.anyLiveNode()).call('CLUSTER', 'KEYSLOT', key));
  }

  /** SIGKILLs a master and waits until one of its replicas serves its slots and every live node says cluster_state:ok and agrees. */
  async killMaster(master: ClusterNodeInfo): Promise<{ promotedAfterMs: number; newMaster: ClusterNodeInfo }> {
    const current = await this.current(master);
    if (current.role !== 'master' || current.slots.length === 0) throw new Error(`${label(current)} is not a master with slots`);
    if (current.replicas.length === 0) throw new Error(`${label(current)} has no replica to promote`);
    const node = this.nodeById(current.id);
    const replicaIds = new Set(current.replicas.map((replica) => replica.id));
    const killedAt = Date.now();
    await this.kill(node);
    let newMasterId = '';
    await this.waitFor(`a replica of ${label(current)} to take its slots`, PROMOTION_TIMEOUT_MS, async () => {
      const [view] = await this.agreedViews();
      const owners = new Set(current.slots.flat().map((slot) => view!.lines.find((line) => line.flags.includes('master') && owns(line.slots, slot))?.id));
      const [owner] = owners;
      if (owners.size !== 1 || !owner || !replicaIds.has(owner)) throw new Error(`slots of ${label(current)} are served by ${[...owners].join(', ')}`);
      newMasterId = owner;
    });
    const promotedAfterMs = Date.now() - killedAt;
    return { promotedAfterMs, newMaster: await this.current({ id: newMasterId }) };
  }

  /**
   * CLUSTER FAILOVER on a replica of `master` (the first, or `replica`): waits until the replica serves the
   * slots, the master is its replica and in sync, and every node says cluster_state:ok and agrees.
   */
  async failover(master: ClusterNodeInfo, replica?: ClusterNodeInfo): Promise<FailoverResult> {
    const current = await this.current(master);
    const chosen = replica ? current.replicas.find((candidate) => candidate.id === replica.id) : current.replicas[0];
    if (current.role !== 'master' || !chosen) throw new Error(`${label(current)} is not a master with ${replica ? `replica ${label(replica)}` : 'a replica'}`);
    const promoted = this.nodeById(chosen.id);
    const demoted = this.nodeById(current.id);
    const startedAt = Date.now();
    const answer = await this.admin(promoted).call('CLUSTER', 'FAILOVER');
    if (answer !== 'OK') throw new Error(`CLUSTER FAILOVER on ${label(chosen)} answered ${String(answer)}`);
    await this.waitFor(`${label(chosen)} to take over from ${label(current)}`, FAILOVER_TIMEOUT_MS, async () => {
      const [view] = await this.agreedViews();
      const now = (id: string) => view!.lines.find((line) => line.id === id)!;
      if (!now(promoted.id).flags.includes('master') || !sameSlots(now(promoted.id).slots, current.slots)) throw new Error(`${label(chosen)} does not serve ${ranges(current.slots)} yet`);
      if (now(demoted.id).masterId !== promoted.id) throw new Error(`${label(current)} is not a replica of ${label(chosen)} yet`);
    });
    const tookMs = Date.now() - startedAt;
    return { tookMs, newMaster: await this.current({ id: promoted.id }), formerMaster: await this.current({ id: demoted.id }) };
  }

  /**
   * Moves one slot to master `to` in place, as `redis-cli --cluster reshard` does (IMPORTING / MIGRATING,
   * its keys with MIGRATE, then SETSLOT NODE on the target, the source and every other master), and waits
   * until every node agrees. Answers how many keys moved.
   */
  async migrateSlot(slot: number, to: ClusterNodeInfo): Promise<{ keysMoved: number }> {
    const source = await this.ownerOf(slot);
    const target = await this.current(to);
    if (target.role !== 'master') throw new Error(`${label(target)} is not a master`);
    if (source.id === target.id) throw new Error(`slot ${slot} is already served by ${label(target)}`);
    const from = this.admin(this.nodeById(source.id));
    const into = this.admin(this.nodeById(target.id));
    await into.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id);
    await from.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id);
    let keysMoved = 0;
    for (;;) {
      const keys = (await from.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
      if (keys.length === 0) break;
      // Straight to the target's own port: a blackholed proxy must not stall a migration.
      await from.call('MIGRATE', HOST, target.realPort, '', 0, 5000, 'KEYS', ...keys);
      keysMoved += keys.length;
    }
    await into.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
    await from.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
    const others = (await this.masters()).filter((master) => master.id !== source.id && master.id !== target.id);
    for (const other of others) await this.admin(this.nodeById(other.id)).call('CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
    await this.waitFor(`every node to agree that ${label(target)} serves slot ${slot}`, MIGRATION_TIMEOUT_MS, async () => {
      const [view] = await this.agreedViews();
      const owner = view!.lines.find((line) => line.flags.includes('master') && owns(line.slots, slot));
      if (owner?.id !== target.id) throw new Error(`slot ${slot} is served by ${owner?.id ?? 'nobody'}`);
    });
    return { keysMoved };
  }

  /**
   * Stops the node's proxy forwarding either way (connections stay open; new ones are held unless
   * `newConnections: 'forward'`); only when proxied. The cluster bus is direct, so the cluster still sees
   * the node healthy; its replicas replicate through the proxy (they dial the announced port) and stall too.
   */
  blackhole(node: ClusterNodeInfo, options?: BlackholeOptions): void {
    this.proxyOf(node).blackhole(options);
  }

  /** Ends `blackhole` (`TcpProxy.heal`): what waited is delivered and the proxy forwards again. */
  restore(node: ClusterNodeInfo): void {
    this.proxyOf(node).heal();
  }

  /** SIGKILLs every node, stops the proxies and removes the temp folder; safe to call again. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      for (const node of this.nodes) node.admin?.disconnect();
      await Promise.all(this.nodes.map((node) => this.kill(node)));
      await Promise.all(this.nodes.map((node) => node.proxy?.stop()));
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.stopped;
  }

  private async kill(node: Node): Promise<void> {
    node.alive = false;
    node.admin?.disconnect();
    node.admin = null;
    const child = node.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  private proxyOf(node: ClusterNodeInfo): TcpProxy {
    const proxy = this.nodes[node.index]?.proxy;
    if (!proxy) throw new Error(`blackhole/restore need a cluster started with { proxied: true }`);
    return proxy;
  }

  private async createWithRedisCli(replicasPerMaster: number): Promise<void> {
    const args = ['--cluster', 'create', ...this.nodes.map((node) => `${HOST}:${node.port}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'];
    await new Promise<void>((resolve, reject) => {
      execFile('redis-cli', args, { timeout: FORM_TIMEOUT_MS }, (error, stdout, stderr) => {
        if (error || /\[ERR\]/.test(stdout)) reject(new Error(`redis-cli ${args.join(' ')} failed (${error?.message ?? 'ERR'}):\n${stdout}${stderr}`));
        else resolve();
      });
    });
  }

  /**
   * CLUSTER INFO / NODES (and a replica's INFO replication) from every live node, which must all say
   * cluster_state:ok, have their replication link up, and describe the same cluster.
   */
  private async agreedViews(): Promise<View[]> {
    const views = await Promise.all(this.nodes.filter((node) => node.alive).map((node) => this.viewOf(node)));
    for (const view of views) {
      if (view.state !== 'ok') throw new Error(`node ${this.name(view.node)} says cluster_state:${view.state}`);
      if (view.replicationLink !== null && view.replicationLink !== 'up') throw new Error(`replica ${this.name(view.node)} has master_link_status:${view.replicationLink}`);
    }
    const [first, ...rest] = views;
    const expected = signature(first!.lines);
    for (const view of rest) {
      const seen = signature(view.lines);
      if (seen !== expected) throw new Error(`node ${this.name(view.node)} sees\n${seen}\nwhile ${this.name(first!.node)} sees\n${expected}`);
    }
    return views;
  }

  private async viewOf(node: Node): Promise<View> {
    const admin = this.admin(node);
    const [info, nodes] = await Promise.all([admin.call('CLUSTER', 'INFO'), admin.call('CLUSTER', 'NODES')]);
    const lines = parseClusterNodes(String(nodes));
    const myself = lines.find((line) => line.flags.includes('myself'));
    let replicationLink: string | null = null;
    if (myself?.flags.includes('slave')) {
      replicationLink = /master_link_status:(\w+)/.exec(String(await admin.call('INFO', 'replication')))?.[1] ?? 'unknown';
    }
    return { node, state: /cluster_state:(\w+)/.exec(String(info))?.[1] ?? 'unknown', lines, replicationLink };
  }

  private async topology(): Promise<ClusterNodeInfo[]> {
    const { lines } = await this.viewOf(this.anyLiveNode());
    const live = lines.filter((line) => !line.flags.includes('fail') && !line.flags.includes('noaddr'));
    const infoOf = (line: NodeLine): ClusterNodeInfo => {
      const node = this.nodeById(line.id);
      return {
        id: line.id,
        host: HOST,
        port: line.port,
        realPort: node.realPort,
        pid: node.pid,
        index: node.index,
        role: line.flags.includes('master') ? 'master' : 'replica',
        masterId: line.masterId,
        slots: line.slots,
        replicas: [],
      };
    };
    const infos = live.map(infoOf);
    for (const info of infos) if (info.role === 'master') info.replicas = infos.filter((other) => other.masterId === info.id);
    return infos;
  }

  private async current(node: { id: string }): Promise<ClusterNodeInfo> {
    const found = (await this.topology()).find((candidate) => candidate.id === node.id);
    if (!found) throw new Error(`node ${node.id} is not in the cluster (stopped or failed)`);
    return found;
  }

  private anyLiveNode(): Node {
    const node = this.nodes.find((candidate) => candidate.alive);
    if (!node) throw new Error('no node of the cluster is running');
    return node;
  }

  private nodeById(id: string): Node {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (!node) throw new Error(`no node of this cluster has id ${id}`);
    return node;
  }

  /** The harness's own connection to a node, straight to its port: fails fast, never reconnects (a new one is made on next use). */
  private admin(node: Node): Redis {
    if (!node.alive) throw new Error(`node ${this.name(node)} was killed`);
    if (!node.admin || node.admin.status === 'end') {
      node.admin = new Redis({
        host: HOST,
        port: node.realPort,
        connectTimeout: 2000,
        commandTimeout: 10_000,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        enableReadyCheck: false,
      });
      node.admin.on('error', () => undefined);
    }
    return node.admin;
  }

  /** `eventually`, failing with the last reason and the log tails of the nodes it names (or of every node when it names none). */
  private async waitFor(what: string, timeoutMs: number, check: () => Promise<void>): Promise<void> {
    try {
      let crashed: Node | undefined;
      await eventually(async () => {
        // A node that died by itself will not come back: fail at once rather than at the timeout.
        crashed = this.nodes.find((node) => node.alive && (node.child.exitCode !== null || node.child.signalCode !== null));
        if (!crashed) await check();
      }, timeoutMs);
      if (crashed) throw new Error(`node ${this.name(crashed)} exited (${crashed.child.exitCode ?? crashed.child.signalCode})`);
    } catch (error) {
      const reason = (error as Error).message;
      const named = this.nodes.filter((node) => reason.includes(this.name(node)) || reason.includes(`:${node.realPort}`));
      const logs = await Promise.all((named.length > 0 ? named : this.nodes).map((node) => this.logTail(node)));
      throw new Error(`Redis Cluster (${this.dir}): waited for ${what} (up to ${timeoutMs} ms); last: ${reason}\n${logs.join('\n')}`);
    }
  }

  private async logTail(node: Node): Promise<string> {
    const log = await readFile(join(this.dir, `${node.realPort}.log`), 'utf8').catch((error: Error) => `(no log: ${error.message})`);
    const state = node.child.exitCode !== null || node.child.signalCode !== null ? `exited ${node.child.exitCode ?? node.child.signalCode}` : node.alive ? 'running' : 'killed';
    return `--- node ${this.name(node)} (pid ${node.pid}, ${state}), last ${LOG_LINES} log lines:\n${log.trimEnd().split('\n').slice(-LOG_LINES).join('\n')}`;
  }

  private name(node: Node): string {
    return `${HOST}:${node.realPort}${node.port !== node.realPort ? ` (announced as ${node.port})` : ''}`;
  }
}

function startNode(dir: string, index: number, realPort: number, proxy: TcpProxy | null): Node {
  const args = [
    '--port', String(realPort),
    '--bind', HOST,
    '--cluster-enabled', 'yes',
    '--cluster-config-file', `nodes-${realPort}.conf`,
    '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
    '--dir', dir,
    '--logfile', join(dir, `${realPort}.log`),
    '--daemonize', 'no',
    '--save', '',
    '--appendonly', 'no',
    // A replica's first sync starts at once, not after the 5 s a diskless sync waits for more replicas.
    '--repl-diskless-sync-delay', '0',
  ];
  if (proxy) args.push('--cluster-announce-port', String(proxy.port), '--cluster-announce-bus-port', String(realPort + BUS_PORT_OFFSET));
  const [command, ...prefix] = [...DIE_WITH_PARENT, 'redis-server'];
  const child = spawn(command!, [...prefix, ...args], { stdio: 'ignore' });
  child.on('error', () => undefined);
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  return { index, realPort, port: proxy?.port ?? realPort, child, pid: child.pid, proxy, id: '', alive: true, admin: null };
}

/** Free ports whose cluster bus port (+10000) is free too. */
async function clusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (port + BUS_PORT_OFFSET > 65_535 || ports.includes(port) || ports.includes(port + BUS_PORT_OFFSET) || ports.includes(port - BUS_PORT_OFFSET)) continue;
    if (await canListen(port + BUS_PORT_OFFSET)) ports.push(port);
  }
  return ports;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> …` */
function parseClusterNodes(text: string): NodeLine[] {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const [id, address, flags, master, , , , , ...slotTokens] = line.trim().split(' ');
    const port = Number(/:(\d+)@/.exec(address!)?.[1] ?? 0);
    const slots: Array<[number, number]> = [];
    // `[slot->-id]` / `[slot-<-id]` are a migration in progress on this node, not ownership.
    for (const token of slotTokens) {
      if (token.startsWith('[')) continue;
      const [from, to] = token.split('-').map(Number);
      slots.push([from!, to ?? from!]);
    }
    return { id: id!, port, flags: flags!.split(','), masterId: master === '-' ? null : master!, slots };
  });
}

/** What every node must agree on: each node's port, role, master, failure and slots (not who is `myself`, nor pings). */
function signature(lines: NodeLine[]): string {
  return lines
    .map((line) => {
      const role = line.flags.includes('master') ? 'master' : line.flags.includes('slave') ? 'replica' : 'none';
      const health = line.flags.includes('fail') ? 'fail' : line.flags.includes('fail?') ? 'pfail' : 'up';
      return `${line.id} ${line.port} ${role} ${line.masterId ?? '-'} ${health} ${ranges(line.slots)}`;
    })
    .sort()
    .join('\n');
}

function owns(slots: Array<[number, number]>, slot: number): boolean {
  return slots.some(([from, to]) => from <= slot && slot <= to);
}

function sameSlots(a: Array<[number, number]>, b: Array<[number, number]>): boolean {
  return ranges(a) === ranges(b);
}

function ranges(slots: Array<[number, number]>): string {
  return [...slots].sort((x, y) => x[0] - y[0]).map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(',');
}

function label(node: { id: string; port?: number }): string {
  return `${node.port ? `${HOST}:${node.port} ` : ''}(${node.id.slice(0, 8)})`;
}

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, name)));
}
