import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { eventually } from '../../support/eventually';
import { ParleyProcess, runParley } from '../../support/parley-process';
import { freePort, TestRedisServer } from '../../support/redis-server';
import { answers } from '../../support/service-urls';
import { createTestDatabase, type TestDatabase } from '../../support/test-database';
import { TEST_JWT_SECRET } from '../../support/test-server';

const STARTED = /Parley GraphQL: (http:\/\/\S+) \(roles: /;
const GAINED_LEAD = 'this instance is now the relay leader';
const LOST_LEAD = 'this instance lost the relay lead';

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

/** Every cluster started in this worker, so that a test that times out still leaves no process behind. */
const running = new Set<ChaosCluster>();
process.once('exit', () => {
  for (const cluster of running) cluster.killNow();
});

/** For afterAll: a run that timed out left its cluster running. */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...running].map((cluster) => cluster.stop()));
}

/**
 * 2 senders, 2 receivers and 2 relays as real processes (as in test/e2e/cluster.e2e.spec.ts) on a
 * database and a Redis server of the run's own, with the means to hurt them one at a time: kill,
 * freeze and thaw a process, stop and start Redis, cut every database connection. A killed process
 * is started again under the same name, on a new port.
 */
export class ChaosCluster {
  readonly instances = new Map<string, Instance>();
  /** Logs of incarnations that ended (killed or stopped), kept for the failure report. */
  private readonly pastLogs: { file: string; log: string }[] = [];
  database!: TestDatabase;
  redis!: TestRedisServer;
  /** The run's own connection: for the oracle's reads and for pg_terminate_backend, which spares it. */
  db!: Client;
  env!: NodeJS.ProcessEnv;

  private constructor(readonly label: string) {}

  static async start(label: string): Promise<ChaosCluster> {
    const cluster = new ChaosCluster(label);
    running.add(cluster);
    await cluster.boot();
    return cluster;
  }

  private async boot(): Promise<void> {
    this.database = await createTestDatabase();
    this.redis = new TestRedisServer(await freePort());
    await this.redis.start();
    this.env = {
      DATABASE_URL: this.database.url,
      REDIS_URL: this.redis.url,
      REDIS_CHANNEL_PREFIX: `chaos-${randomBytes(3).toString('hex')}:`,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      MIGRATE_ON_START: 'false',
      POLL_INTERVAL_MS: '500',
      // Six processes share the machine's PostgreSQL with other test files: keep the pools small.
      DATABASE_POOL_MAX: '4',
      LOG_LEVEL: 'info',
    };
    const migrated = await runParley(['migrate'], this.env);
    if (migrated.code !== 0) throw new Error(`parley migrate failed:\n${migrated.output}`);
    this.db = new Client({ connectionString: this.database.url, application_name: 'chaos-oracle' });
    await this.db.connect();
    await Promise.all([
      this.launch('sender-1', 'sender'),
      this.launch('sender-2', 'sender'),
      this.launch('receiver-1', 'receiver'),
      this.launch('receiver-2', 'receiver'),
      this.launch('relay-1', 'relay'),
      this.launch('relay-2', 'relay'),
    ]);
    await this.relayLeader();
  }

  private async launch(name: string, role: Role): Promise<Instance> {
    const previous = this.instances.get(name);
    const child = ParleyProcess.start(['serve', '--role', role, '--port', '0'], this.env, 'bin');
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
    await this.ready(instance);
    return instance;
  }

  async ready(instance: Instance, timeoutMs = 30_000): Promise<void> {
    await eventually(async () => {
      const response = await fetch(instance.url.replace('/graphql', '/readyz'));
      if (response.status !== 200) throw new Error(`${instance.name} is not ready: ${response.status} ${await response.text()}`);
    }, timeoutMs);
  }

  async allReady(timeoutMs = 30_000): Promise<void> {
    await Promise.all(this.alive().map((instance) => this.ready(instance, timeoutMs)));
  }

  instance(name: string): Instance {
    const instance = this.instances.get(name);
    if (!instance) throw new Error(`no instance ${name}`);
    return instance;
  }

  alive(role?: Role): Instance[] {
    return [...this.instances.values()].filter((i) => i.alive && (!role || i.role === role));
  }

  /** The relay that holds the lead now, by what each relay last said about it. */
  async relayLeader(timeoutMs = 20_000): Promise<Instance> {
    return eventually(() => {
      const leaders = this.alive('relay').filter((relay) => {
        const log = relay.process.log;
        return log.lastIndexOf(GAINED_LEAD) > log.lastIndexOf(LOST_LEAD);
      });
      if (leaders.length !== 1) throw new Error(`expected one relay leader, found ${leaders.map((l) => l.name).join(', ') || 'none'}`);
      return leaders[0]!;
    }, timeoutMs);
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

  redisAnswers(): Promise<boolean> {
    return answers('127.0.0.1', this.redis.port);
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
    await this.redis?.stop();
    await this.database?.drop();
    running.delete(this);
  }

  /** Last resort when the worker exits: synchronous, and SIGKILL ends a stopped process too. */
  killNow(): void {
    for (const instance of this.instances.values()) {
      const { child } = instance.process;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    void this.redis?.stop();
  }
}
