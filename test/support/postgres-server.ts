import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { eventually } from './eventually';

/** How PostgreSQL is told to stop: `fast` rolls back and closes every session; `immediate` just quits, and the next start recovers. */
export type ShutdownMode = 'fast' | 'immediate';
const SIGNALS: Record<ShutdownMode, NodeJS.Signals> = { fast: 'SIGINT', immediate: 'SIGQUIT' };

/**
 * A PostgreSQL server of the test's own (initdb into a temp folder, on its own port), that the test may
 * stop and start again by its pid, as `redis-server.ts` does for Redis. It needs the server binaries:
 * `POSTGRES_BIN`, else Debian's `/usr/lib/postgresql/15/bin`, else `pg_config --bindir`. PostgreSQL
 * refuses to run as root, so under root it runs as the `postgres` user, which then owns its folder.
 */
export class TestPostgresServer {
  private process: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly root: string,
    private readonly bin: string,
    private readonly owner: { uid: number; gid: number } | undefined,
  ) {}

  static async create(port: number): Promise<TestPostgresServer> {
    const bin = serverBinaries();
    const owner = unprivilegedOwner();
    const root = mkdtempSync(join(tmpdir(), 'parley-pg-'));
    if (owner) chownSync(root, owner.uid, owner.gid);
    const server = new TestPostgresServer(port, root, bin, owner);
    const initdb = server.spawn('initdb', ['-D', server.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
    let output = '';
    initdb.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    initdb.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const [code] = await once(initdb, 'exit');
    if (code !== 0) {
      rmSync(root, { recursive: true, force: true });
      throw new Error(`initdb failed (${code}):\n${output}`);
    }
    return server;
  }

  get dataDir(): string {
    return join(this.root, 'data');
  }

  url(database = 'postgres'): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/${database}`;
  }

  get running(): boolean {
    return this.process !== null && this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Its output since it was created (every start and stop), for a failure report. */
  get log(): string {
    return this.output;
  }

  /** Starts it and resolves once it answers a query; fails with its output if it exits first. */
  async start(): Promise<void> {
    if (this.running) return;
    // A crash of the host is not a fault here, a crash of PostgreSQL is: without fsync (the OS keeps what
    // was written), a start, a checkpoint and a recovery take a moment; but every COMMIT that answered
    // must have its WAL written before it answers (synchronous_commit on, the default), or an immediate
    // stop loses commits that clients and subscribers already saw, and transaction ids go back.
    const child = this.spawn('postgres', [
      '-D', this.dataDir, '-p', String(this.port),
      '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${this.root}`,
      '-c', 'fsync=off', '-c', 'full_page_writes=off',
      '-c', 'max_connections=200',
    ]);
    this.process = child;
    const collect = (chunk: Buffer) => (this.output += chunk.toString('utf8'));
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const exited = once(child, 'exit');
    await eventually(async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}) while starting:\n${this.output.slice(-2000)}`);
      const client = new Client({ connectionString: this.url(), connectionTimeoutMillis: 1000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('select 1');
      } finally {
        await client.end().catch(() => undefined);
      }
    }, 30_000).catch(async (error: unknown) => {
      if (this.running) child.kill('SIGQUIT');
      await exited;
      throw error;
    });
  }

  /** Stops the postmaster by its pid and resolves once it has exited. */
  async stop(mode: ShutdownMode = 'fast'): Promise<void> {
    const child = this.process;
    if (!child || !this.running) return;
    const exited = once(child, 'exit');
    child.kill(SIGNALS[mode]);
    await exited;
    this.process = null;
  }

  /** Stops it and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop('immediate');
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Last resort when the worker exits: synchronous. The folder stays (it is in the temp dir). */
  killNow(): void {
    if (this.running) this.process!.kill('SIGQUIT');
  }

  private spawn(program: string, args: string[]): ChildProcess {
    return spawn(join(this.bin, program), args, {
      cwd: this.root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C' },
      ...this.owner,
    });
  }
}

function serverBinaries(): string {
  const candidates = [process.env.POSTGRES_BIN, '/usr/lib/postgresql/15/bin'];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim());
  } catch {
    // No pg_config on the PATH: the candidates above are all there is.
  }
  const found = candidates.find((dir) => dir && existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb')));
  if (!found) throw new Error('no PostgreSQL server binaries (postgres, initdb): install them (apt-get install postgresql-15) or set POSTGRES_BIN to their folder');
  return found;
}

/** Under root, the `postgres` user's ids (PostgreSQL refuses to run as root); otherwise none (run as this user). */
function unprivilegedOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as (PostgreSQL refuses to run as root): create one (useradd postgres) or run the tests as another user');
  }
}
