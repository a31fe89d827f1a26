import type { Redis } from 'ioredis';

/** What `INFO cpu` and `INFO commandstats` say of a Redis node: its CPU so far, and calls and µs per command. */
export interface RedisInfo {
  cpuSeconds: number;
  commands: Map<string, { calls: number; usec: number }>;
}

export async function readRedisInfo(connection: Redis): Promise<RedisInfo> {
  const text = String(await connection.call('INFO', 'cpu', 'commandstats'));
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  const commands = new Map<string, { calls: number; usec: number }>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) commands.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
  return { cpuSeconds: field('used_cpu_user') + field('used_cpu_sys'), commands };
}
