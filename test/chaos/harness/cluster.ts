import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { partitionSlot } from '../../../src/application/realtime/feed-channels';
import { eventually } from '../../support/eventually';
import { ParleyProcess, runParley } from '../../support/parley-process';
import { TestPostgresServer, type ShutdownMode } from '../../support/postgres-server';
import { TestRedisCluster, type ClusterNodeInfo } from '../../support/redis-cluster';
import { freePort, TestRedisServer } from '../../support/redis-server';
import { answers } from '../../support/service-urls';
import { TEST_JWT_SECRET } from '../../support/test-server';
import { NetworkLinks } from './links';
import type { RedisMode } from './profile';

const STARTED = /Parley GraphQL: (http:\/\/\S+) \(roles: /;
/**
 * Ordering partitions of the run (DESIGN.md §3): few enough that every relay leads some and chats of
 * one user sit in partitions under different relays, so that partitions overtake one another.
 */
export const PARTITIONS = 4;
/** A readiness probe that has not answered by then is hung, which is an answer too (not ready). */
const READYZ_DEADLINE_MS = 2000;
const DATABASE = 'parley_chaos';

export type Role = 'sender' | 'receiver' | 'relay';

export interface Instance {
  name: string;
  role: Role;
  /** How many times this name was started: part of its log file name. */
  incarnation: number;
  process: ParleyProcess;
  url: string;
  alive: boolean;
  paused: boolean;
}

/** One partition's leadership as PostgreSQL has it: `relay` is the live, unfrozen process its holder names, if any. */
export interface PartitionLead {
  partition: number;
  epoch: number;
  holder: string;
  relay: Instance | undefined;
}

/** Every cluster started in this worker, so that a test that times out still leaves no process behind. */
const running = new Set<ChaosCluster>();
process.once('exit', () => {
  for (const cluster of running) cluster.killNow();
});

/** A line a process logged (pino JSON): when, its message, and its fields. */
export interface LogEvent {
  instance: string;
  time: number;
  msg: string;
  fields: Record<string, unknown>;
}

/** For afterAll: a run that timed out left its cluster running. */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...running].map((cluster) => cluster.stop()));
}

/**
 * 2 senders, 3 receivers and 2 relays as real processes (as in test/e2e/cluster.e2e.spec.ts) on a
 * PostgreSQL and a Redis server of the run's own, with the means to hurt them: kill, freeze and thaw a
 * process, stop and start Redis or PostgreSQL, cut every database connection, and blackhole one
 * process's own link to Redis or PostgreSQL (`links`). A killed process is started again under the
 * same name, on a new port, behind the same links.
 *
 * In `cluster` mode the Redis is a Redis Cluster of the run's own (`TestRedisCluster`: 3 masters, 3
 * replicas, each node behind a proxy of its own so that a node can be blackholed) and every process
 * gets REDIS_CLUSTER_URLS; processes have no Redis link of their own then (see `NetworkLinks`).
 */
export class ChaosCluster {
  readonly instances = new Map<string, Instance>();
  /** Logs of incarnations that ended (killed or stopped), kept for the failure report. */
  private readonly pastLogs: { file: string; log: string }[] = [];
  /** Processes that exited without being told to, not yet reported (see `takeExits`). */
  private exits: string[] = [];
  database!: { name: string; url: string };
  postgres!: TestPostgresServer;
  /** The run's one redis-server (`single` mode only). */
  redis!: TestRedisServer;
  /** The run's Redis Cluster (`cluster` mode only). */
  redisCluster!: TestRedisCluster;
  /** Cluster nodes blackholed now (by their place in the cluster), so that healing can restore them. */
  private readonly blackholedNodes = new Map<number, ClusterNodeInfo>();
  links!: NetworkLinks;
  /**
   * The run's own connection, straight to the server (no link): for the oracle's reads and for
   * pg_terminate_backend, which spares it. Replaced when PostgreSQL starts again.
   */
  db!: Client;
  env!: NodeJS.ProcessEnv;

  private constructor(readonly label: string, readonly redisMode: RedisMode) {}

  static async start(label: string, redisMode: RedisMode = 'single'): Promise<ChaosCluster> {
    const cluster = new ChaosCluster(label, redisMode);
    running.add(cluster);
    await cluster.boot();
    return cluster;
  }

  private async boot(): Promise<void> {
    this.postgres = await TestPostgresServer.create(await freePort());
    await this.postgres.start();
    const admin = await this.connect(this.postgres.url());
    await admin.query(`create database ${DATABASE}`);
    await admin.end();
    this.database = { name: DATABASE, url: this.postgres.url(DATABASE) };
    let redisEnv: NodeJS.ProcessEnv;
    if (this.redisMode === 'cluster') {
      this.redisCluster = await TestRedisCluster.start({ masters: 3, replicasPerMaster: 1, proxied: true });
      this.links = new NetworkLinks({ redis: null, postgres: this.postgres.port });
      redisEnv = { REDIS_CLUSTER_URLS: this.redisCluster.seeds.join(',') };
    } else {
      this.redis = new TestRedisServer(await freePort());
      await this.redis.start();
      this.links = new NetworkLinks({ redis: this.redis.port, postgres: this.postgres.port });
      redisEnv = { REDIS_URL: this.redis.url };
    }
    this.env = {
      DATABASE_URL: this.database.url,
      ...redisEnv,
      REDIS_CHANNEL_PREFIX: `chaos-${randomBytes(3).toString('hex')}:`,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      MIGRATE_ON_START: 'false',
      POLL_INTERVAL_MS: '500',
      // Six processes on a 2-core machine shared with other test files: keep the pools small.
      DATABASE_POOL_MAX: '4',
      LOG_LEVEL: 'info',
      // Every process gets it; the first start stores it in the database, where it never shrinks.
      RELAY_PARTITIONS: String(PARTITIONS),
    };
    const migrated = await runParley(['migrate'], this.env);
    if (migrated.code !== 0) throw new Error(`parley migrate failed:\n${migrated.output}`);
    this.db = await this.connect(this.database.url);
    await Promise.all([
      this.launch('sender-1', 'sender'),
      this.launch('sender-2', 'sender'),
      this.launch('receiver-1', 'receiver'),
      this.launch('receiver-2', 'receiver'),
      this.launch('receiver-3', 'receiver'),
      this.launch('relay-1', 'relay'),
      this.launch('relay-2', 'relay'),
    ]);
    await this.partitionsShared();
  }

  /** Starts a process that was not part of the cluster (a relay joining mid-run). */
  async join(name: string, role: Role): Promise<Instance> {
    if (this.instances.get(name)?.alive) throw new Error(`${name} is already running`);
    return this.launch(name, role);
  }

  /**
   * Stops a process for good (SIGTERM, as an orchestrator scaling down would) and forgets it, so that
   * healing does not start it again.
   */
  async retire(name: string): Promise<void> {
    const instance = this.instance(name);
    instance.alive = false;
    if (instance.paused) this.resume(name);
    const timer = setTimeout(() => instance.process.child.kill('SIGKILL'), 20_000);
    await instance.process.stop('SIGTERM');
    clearTimeout(timer);
    this.keepLog(instance);
    this.instances.delete(name);
  }

  private async launch(name: string, role: Role): Promise<Instance> {
    const previous = this.instances.get(name);
    const links = await this.links.env(name, { databaseUrl: this.database.url, redisUrl: this.redisMode === 'single' ? this.redis.url : null });
    const child = ParleyProcess.start(['serve', '--role', role, '--port', '0'], { ...this.env, ...links }, 'bin');
    const [, url] = await child.waitFor(STARTED);
    const instance: Instance = {
      name,
      role,
      incarnation: (previous?.incarnation ?? 0) + 1,
      process: child,
      url: url!,
      alive: true,
      paused: false,
    };
    this.instances.set(name, instance);
    void child.exited.then((code) => {
      if (this.instances.get(name) !== instance || !instance.alive) return;
      instance.alive = false;
      this.exits.push(`${name}#${instance.incarnation} exited on its own (${code ?? child.child.signalCode}); its log: ${name}#${instance.incarnation}.log`);
      this.keepLog(instance);
    });
    await this.ready(instance);
    return instance;
  }

  async ready(instance: Instance, timeoutMs = 30_000): Promise<void> {
    await eventually(async () => {
      const answer = await this.readiness(instance);
      if (answer.status !== 200) throw new Error(`${instance.name} is not ready: ${answer.status} ${answer.body}`);
    }, timeoutMs);
  }

  /** One `/readyz` probe with a deadline: its status, or `hung` (no answer within the deadline) or `refused`. */
  async readiness(instance: Instance): Promise<{ status: number | 'hung' | 'refused'; body: string }> {
    try {
      const response = await fetch(instance.url.replace('/graphql', '/readyz'), { signal: AbortSignal.timeout(READYZ_DEADLINE_MS) });
      return { status: response.status, body: (await response.text()).slice(0, 300) };
    } catch (error) {
      const hung = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
      return { status: hung ? 'hung' : 'refused', body: String((error as { cause?: Error }).cause?.message ?? (error as Error).message) };
    }
  }

  async allReady(timeoutMs = 30_000): Promise<void> {
    await Promise.all(this.alive().map((instance) => this.ready(instance, timeoutMs)));
  }

  instance(name: string): Instance {
    const instance = this.instances.get(name);
    if (!instance) throw new Error(`no instance ${name}`);
    return instance;
  }

  /** In name order, whatever order they started in: a seeded pick among them then picks the same one. */
  alive(role?: Role): Instance[] {
    return [...this.instances.values()].filter((i) => i.alive && (!role || i.role === role)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Every partition's leadership row (`relay_leadership.name = 'partition:<p>'`), its holder ("host:pid")
   * matched to a relay of the run by pid. A holder that is dead or frozen leads nothing: its row stays
   * until another relay takes the partition.
   */
  async leadership(): Promise<PartitionLead[]> {
    const { rows } = await this.db.query<{ name: string; epoch: string; holder: string }>(
      `select name, epoch::text as epoch, holder from relay_leadership where name like 'partition:%'`,
    );
    const byName = new Map(rows.map((row) => [row.name, row]));
    return Array.from({ length: PARTITIONS }, (_, partition) => {
      const row = byName.get(`partition:${partition}`);
      const pid = row?.holder.split(':').at(-1);
      const relay = this.alive('relay').find((r) => !r.paused && String(r.process.child.pid) === pid);
      return { partition, epoch: Number(row?.epoch ?? 0), holder: row?.holder ?? 'nobody', relay };
    });
  }

  /** The partitions a relay leads now, by PostgreSQL. */
  async partitionsLedBy(name: string): Promise<number[]> {
    return (await this.leadership()).filter((lead) => lead.relay?.name === name).map((lead) => lead.partition);
  }

  /** The relay that leads `partition`, once a live one does. */
  async leaderOf(partition: number, timeoutMs = 20_000): Promise<Instance> {
    return eventually(async () => {
      const lead = (await this.leadership())[partition]!;
      if (!lead.relay) throw new Error(`partition ${partition} has no live leader (its row names ${lead.holder}, epoch ${lead.epoch})`);
      return lead.relay;
    }, timeoutMs);
  }

  /** The partition each chat was given when it was created (it never moves). */
  async partitionsOf(chatIds: string[]): Promise<Map<string, number>> {
    const { rows } = await this.db.query<{ id: string; partition: number }>('select id::text as id, partition from chats where id = any($1::uuid[])', [chatIds]);
    return new Map(rows.map((row) => [row.id, row.partition]));
  }

  /** Every partition led by a live relay (after a fault, before the next). */
  async allPartitionsLed(timeoutMs = 30_000): Promise<PartitionLead[]> {
    return eventually(async () => {
      const leads = await this.leadership();
      const orphans = leads.filter((lead) => !lead.relay);
      if (orphans.length) throw new Error(`partitions without a live leader: ${orphans.map((o) => `${o.partition} (row names ${o.holder})`).join(', ')}`);
      return leads;
    }, timeoutMs);
  }

  /** Every partition led, and every live relay leading a share of them (DESIGN.md §3: live relays share the partitions). */
  async partitionsShared(timeoutMs = 30_000): Promise<PartitionLead[]> {
    return eventually(async () => {
      const leads = await this.leadership();
      const orphans = leads.filter((lead) => !lead.relay);
      if (orphans.length) throw new Error(`partitions without a live leader: ${describeLeads(leads)}`);
      const idle = this.alive('relay').filter((relay) => !relay.paused && !leads.some((lead) => lead.relay === relay));
      if (idle.length) throw new Error(`relays that lead no partition: ${idle.map((r) => r.name).join(', ')}; leads ${describeLeads(leads)}`);
      return leads;
    }, timeoutMs);
  }

  /** The processes that exited on their own since the last call. */
  takeExits(): string[] {
    const exits = this.exits;
    this.exits = [];
    return exits;
  }

  /** SIGKILL: no drain, no goodbye; sockets and database sessions just end. */
  async kill(name: string): Promise<void> {
    const instance = this.instance(name);
    instance.alive = false;
    if (instance.paused) this.signal(instance, 'SIGCONT');
    await instance.process.stop('SIGKILL');
    this.keepLog(instance);
  }

  async restart(name: string): Promise<Instance> {
    const instance = this.instance(name);
    if (instance.alive) throw new Error(`${name} is still running`);
    return this.launch(name, instance.role);
  }

  pause(name: string): void {
    const instance = this.instance(name);
    instance.paused = true;
    this.signal(instance, 'SIGSTOP');
  }

  resume(name: string): void {
    const instance = this.instance(name);
    if (!instance.paused) return;
    instance.paused = false;
    this.signal(instance, 'SIGCONT');
  }

  /** Single: the redis-server takes connections. Cluster: every node says cluster_state:ok (see `redisClusterTrouble`). */
  async redisAnswers(): Promise<boolean> {
    if (this.redisMode === 'cluster') return (await this.redisClusterTrouble()) === null;
    return answers('127.0.0.1', this.redis.port);
  }

  // --- the Redis Cluster (cluster mode) ---

  /** The master that serves a partition's slot now (its channels and fencing key). */
  async masterOf(partition: number): Promise<ClusterNodeInfo> {
    return this.redisCluster.ownerOf(partitionSlot(partition));
  }

  /** The partitions whose slots `master` serves now. */
  partitionsOn(master: ClusterNodeInfo): number[] {
    return Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => master.slots.some(([from, to]) => from <= partitionSlot(p) && partitionSlot(p) <= to));
  }

  /** Stops the node's proxy forwarding (connections stay open, new ones are held) until `restoreNode` or healing. */
  blackholeNode(node: ClusterNodeInfo): void {
    this.blackholedNodes.set(node.index, node);
    this.redisCluster.blackhole(node);
  }

  restoreNode(node: ClusterNodeInfo): void {
    this.redisCluster.restore(node);
    this.blackholedNodes.delete(node.index);
  }

  /** Every node blackholed now forwarding again; answers their ports. */
  restoreAllNodes(): string[] {
    return [...this.blackholedNodes.values()].map((node) => {
      this.restoreNode(node);
      return `Redis node :${node.port} restored`;
    });
  }

  /**
   * What is wrong with the Redis Cluster now, asked of each node straight on its own port (never
   * through its proxy): a node that does not answer or does not say cluster_state:ok, or slots no
   * master serves. Null when nothing is.
   */
  async redisClusterTrouble(): Promise<string | null> {
    let nodes: ClusterNodeInfo[];
    try {
      nodes = await this.redisCluster.nodesInfo();
    } catch (error) {
      return `the cluster's nodes could not be listed: ${(error as Error).message}`;
    }
    const served = nodes.filter((n) => n.role === 'master').reduce((sum, n) => sum + n.slots.reduce((s, [from, to]) => s + to - from + 1, 0), 0);
    if (served !== 16_384) return `masters serve ${served} of 16384 slots`;
    const states = await Promise.all(nodes.map(async (node) => {
      const admin = new Redis({ host: node.host, port: node.realPort, lazyConnect: true, connectTimeout: 1000, commandTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
      admin.on('error', () => undefined);
      try {
        await admin.connect();
        const state = /cluster_state:(\w+)/.exec(String(await admin.call('CLUSTER', 'INFO')))?.[1] ?? 'unknown';
        return state === 'ok' ? null : `:${node.realPort} says cluster_state:${state}`;
      } catch (error) {
        return `:${node.realPort} does not answer (${(error as Error).message})`;
      } finally {
        admin.disconnect();
      }
    }));
    return states.filter(Boolean).join('; ') || null;
  }

  /** Waits until `redisClusterTrouble` says nothing is wrong, or fails with what was. */
  async redisClusterWhole(timeoutMs = 30_000): Promise<void> {
    await eventually(async () => {
      const trouble = await this.redisClusterTrouble();
      if (trouble) throw new Error(`the Redis Cluster is not whole: ${trouble}`);
    }, timeoutMs);
  }

  /** The masters as the cluster has them now, for a report: port, partitions, replicas. */
  async describeRedisCluster(): Promise<string> {
    const masters = await this.redisCluster.masters();
    return masters.map((m) => `:${m.port} (partitions ${this.partitionsOn(m).join(',') || 'none'}; replicas ${m.replicas.map((r) => `:${r.port}`).join(',') || 'none'})`).join(', ');
  }

  /** An instance's /metrics text (empty when it does not answer). */
  async metricsText(instance: Instance): Promise<string> {
    try {
      return await (await fetch(instance.url.replace('/graphql', '/metrics'), { signal: AbortSignal.timeout(READYZ_DEADLINE_MS) })).text();
    } catch {
      return '';
    }
  }

  /** The lines `instances` logged at or after `since` whose message matches `msg` (not anchored: it is tried on the raw line first), in time order. */
  logEvents(instances: Instance[], since: number, msg: RegExp): LogEvent[] {
    const events: LogEvent[] = [];
    for (const instance of instances) {
      for (const line of instance.process.log.split('\n')) {
        if (!line.startsWith('{') || !msg.test(line)) continue;
        try {
          const fields = JSON.parse(line) as Record<string, unknown>;
          const time = Number(fields.time);
          if (time >= since && typeof fields.msg === 'string' && msg.test(fields.msg)) events.push({ instance: instance.name, time, msg: fields.msg, fields });
        } catch {
          // A line cut in the middle (the process was killed while writing it).
        }
      }
    }
    return events.sort((a, b) => a.time - b.time);
  }

  /** Stops the run's PostgreSQL by its pid; every session of every process ends. */
  async stopPostgres(mode: ShutdownMode): Promise<void> {
    await this.postgres.stop(mode);
  }

  /** Starts it again on the same port and reconnects the run's own connection. */
  async startPostgres(): Promise<void> {
    await this.postgres.start();
    const previous = this.db;
    this.db = await this.connect(this.database.url);
    await previous.end().catch(() => undefined);
  }

  private async connect(url: string): Promise<Client> {
    const client = new Client({ connectionString: url, application_name: 'chaos-oracle' });
    // A stopped or restarted server ends this session too: an unhandled 'error' would end the test worker.
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  /** `select pg_terminate_backend(pid)` of every session on the run's database but the run's own. */
  async terminateDatabaseSessions(): Promise<number> {
    const { rows } = await this.db.query<{ terminated: boolean }>(
      'select pg_terminate_backend(pid) as terminated from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [this.database.name],
    );
    return rows.filter((row) => row.terminated).length;
  }

  private signal(instance: Instance, signal: NodeJS.Signals): void {
    const { child } = instance.process;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  private keepLog(instance: Instance): void {
    this.pastLogs.push({ file: `${instance.name}#${instance.incarnation}.log`, log: instance.process.log });
  }

  /** Writes every process's output to a folder and answers its path (for the failure report). */
  saveLogs(): string {
    const folder = join(tmpdir(), 'parley-chaos', `${this.label}-${Date.now()}`);
    mkdirSync(folder, { recursive: true });
    const current = [...this.instances.values()].filter((i) => i.alive).map((i) => ({ file: `${i.name}#${i.incarnation}.log`, log: i.process.log }));
    for (const { file, log } of [...this.pastLogs, ...current]) writeFileSync(join(folder, file), log);
    if (this.postgres) writeFileSync(join(folder, 'postgres.log'), this.postgres.log);
    if (this.redisCluster) {
      // Each node's own log (redis-<port>.log, its real port), for a promotion or a migration to be read back.
      for (const file of readdirSync(this.redisCluster.dir).filter((f) => f.endsWith('.log'))) {
        try {
          copyFileSync(join(this.redisCluster.dir, file), join(folder, `redis-${file}`));
        } catch {
          // Removed meanwhile (the cluster stopped).
        }
      }
    }
    return folder;
  }

  private stopping: Promise<void> | null = null;

  /** Thaws anything frozen first: a stopped process would not act on SIGTERM. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    for (const instance of this.instances.values()) if (instance.paused) this.resume(instance.name);
    this.links?.healAll();
    if (this.redisCluster) this.restoreAllNodes();
    await Promise.all(
      this.alive().map(async (instance) => {
        instance.alive = false;
        const timer = setTimeout(() => instance.process.child.kill('SIGKILL'), 5000);
        await instance.process.stop('SIGTERM');
        clearTimeout(timer);
        this.keepLog(instance);
      }),
    );
    await this.db?.end().catch(() => undefined);
    await this.links?.stop();
    await this.redis?.stop();
    await this.redisCluster?.stop();
    await this.postgres?.destroy();
    running.delete(this);
  }

  /** Last resort when the worker exits: synchronous, and SIGKILL ends a stopped process too. */
  killNow(): void {
    for (const instance of this.instances.values()) {
      const { child } = instance.process;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    void this.redis?.stop();
    // Kills every node synchronously before its first await (and each node dies with this process anyway).
    void this.redisCluster?.stop();
    this.postgres?.killNow();
  }
}

export function describeLeads(leads: PartitionLead[]): string {
  return leads.map((lead) => `p${lead.partition}→${lead.relay?.name ?? `none (${lead.holder})`}@${lead.epoch}`).join(' ');
}
