import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The measured limits each figure is printed beside (DESIGN.md §8), taken on this machine in this run. */
export interface Baselines {
  pgbenchInsertTps: Record<number, number | null>;
  redisPublishPerSecond: { plain: number | null; pipelined: number | null };
}

export function measureBaselines(databaseUrl: string, redisUrl: string, seconds: number): Baselines {
  const pgbenchInsertTps: Record<number, number | null> = {};
  for (const clients of [1, 8, 32]) pgbenchInsertTps[clients] = pgbenchInsert(databaseUrl, clients, seconds);
  return {
    pgbenchInsertTps,
    redisPublishPerSecond: { plain: redisPublish(redisUrl, 1), pipelined: redisPublish(redisUrl, 64) },
  };
}

function pgbenchInsert(databaseUrl: string, clients: number, seconds: number): number | null {
  const dir = mkdtempSync(join(tmpdir(), 'parley-pgbench-'));
  const script = join(dir, 'insert.sql');
  writeFileSync(script, 'insert into bench_baseline (payload) values (\'x\');\n');
  try {
    execFileSync('psql', [databaseUrl, '-qc', 'create table if not exists bench_baseline (id bigserial primary key, payload text)'], { stdio: 'ignore' });
    const output = execFileSync('pgbench', ['-n', '-f', script, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), databaseUrl], { encoding: 'utf8' });
    const match = /tps = ([\d.]+)/.exec(output);
    return match ? Math.round(Number(match[1])) : null;
  } catch {
    return null;
  }
}

function redisPublish(redisUrl: string, pipeline: number): number | null {
  const url = new URL(redisUrl);
  try {
    const args = ['-h', url.hostname, '-p', url.port || '6379', '-n', '200000', '-P', String(pipeline), '-q', 'publish', 'parley-bench-baseline', 'hello'];
    const output = execFileSync('redis-benchmark', args, { encoding: 'utf8' });
    const match = /([\d.]+) requests per second/.exec(output.split('\r').pop() ?? output);
    return match ? Math.round(Number(match[1])) : null;
  } catch {
    return null;
  }
}
