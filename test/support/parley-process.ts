import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '../..');
const MAIN = resolve(REPO_ROOT, 'dist/src/main.js');
const BIN = resolve(REPO_ROOT, 'bin/parley.js');

/** A Parley process built by `npm run build`, with its output kept for assertions and failure messages. */
export class ParleyProcess {
  private output = '';
  private readonly waiters: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void }[] = [];
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      for (const waiter of [...this.waiters]) {
        const match = this.output.match(waiter.pattern);
        if (match) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(match);
        }
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  static start(args: string[], env: NodeJS.ProcessEnv, script: 'main' | 'bin' = 'main'): ParleyProcess {
    const child = spawn(process.execPath, [script === 'main' ? MAIN : BIN, ...args], {
      cwd: REPO_ROOT,
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ParleyProcess(child);
  }

  get log(): string {
    return this.output;
  }

  /** Resolves when the output matches; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    const match = this.output.match(pattern);
    if (match) return Promise.resolve(match);
    return new Promise((resolvePromise, reject) => {
      this.waiters.push({ pattern, resolve: resolvePromise });
      void this.exited.then((code) =>
        reject(new Error(`parley exited (${code}) before printing ${pattern}:\n${this.output}`)),
      );
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Runs a parley command to completion and answers its exit code and output. */
export async function runParley(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const process = ParleyProcess.start(args, env, 'bin');
  const code = await process.exited;
  return { code, output: process.log };
}

/** The test runner's variables would leak a database into a process meant to run without one. */
function cleanEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const key of ['DATABASE_URL', 'REDIS_URL', 'REDIS_CLUSTER_URLS', 'AUTH_JWT_SECRET', 'AUTH_JWKS_URL', 'PORT', 'ROLE', 'DATA_DIR']) {
    delete base[key];
  }
  return { ...base, NODE_ENV: 'development', LOG_LEVEL: 'warn', ...env };
}
