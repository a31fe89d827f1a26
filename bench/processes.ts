import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RedisTarget } from '../src/infrastructure/redis/redis-connections';

const BIN = resolve(__dirname, '../../bin/parley.js');

/** A Parley instance started from the built command line, as an operator would run it. */
export interface Instance {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `nodeArgs`: options for node itself, e.g. `--cpu-prof` (which NODE_OPTIONS does not take). */
export async function startInstance(role: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<Instance> {
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'serve', '--role', role, '--port', '0'], {
    // The load generator posts as one user as fast as it can and opens thousands of sockets as one user:
    // the per-user limits would measure themselves.
    env: { ...process.env, ...env, LOG_LEVEL: 'warn', MIGRATE_ON_START: 'false', HTTP_OPERATIONS_PER_SECOND: '1000000', WS_OPERATIONS_PER_SECOND: '100000', WS_MAX_CONNECTIONS_PER_USER: '100000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolvePromise, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Parley GraphQL: (http:\/\/\S+)/.exec(output);
      if (match) resolvePromise(match[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${role} exited (${code}):\n${output}`)));
  });
  const port = Number(new URL(url).port);
  return {
    url,
    port,
    child,
    stop: () =>
      new Promise<void>((resolvePromise) => {
        if (child.exitCode !== null) return resolvePromise();
        child.once('exit', () => resolvePromise());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * What names a Redis for Parley's processes: one server (`REDIS_URL`) or a cluster's seed nodes
 * (`REDIS_CLUSTER_URLS`), the other set empty so that neither comes in from this process's environment.
 */
export function redisEnv(redis: RedisTarget): NodeJS.ProcessEnv {
  return 'url' in redis ? { REDIS_URL: redis.url, REDIS_CLUSTER_URLS: '' } : { REDIS_URL: '', REDIS_CLUSTER_URLS: redis.cluster.join(',') };
}

export function runCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: 'ignore' });
    child.once('exit', (code) => resolvePromise(code));
  });
}

/** CPU time (user + system) a process has used so far, in milliseconds, from /proc (Linux); null elsewhere. */
export function cpuMillis(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime, in clock ticks of 10 ms on Linux.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}
