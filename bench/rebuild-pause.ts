import { Client } from 'pg';
import { writeBulkHistory } from '../test/support/bulk-events';
import { Api } from './cluster-figures';
import { runCommand, startInstance } from './processes';

/**
 * `parley projections rebuild` beside writes (README "Projections rebuild"): what it costs the writers.
 *
 * - `rateBefore` / `rateDuring` / `rateAfter`: posts per second by `clients` closed-loop writers (each
 *   posts as soon as its last post is answered, to a chat of its own) in the `seconds` before the
 *   rebuild (after as long a warm-up), while it runs, and in the `seconds` after it: the write
 *   capacity the rebuild's own work takes away.
 * - `steadyP99`: the 99th percentile latency of the posts before and after; `longestAtSwap`: the
 *   longest post that was in flight in the last second of the rebuild, when it takes the append lock
 *   for the last events and the swap; `pauseMs` is the one minus the other. `longestDuring`: the
 *   longest post of the whole rebuild.
 */
export interface RebuildPauseFigures {
  events: number;
  rebuildSeconds: number;
  clients: number;
  rateBefore: number;
  rateDuring: number;
  rateAfter: number;
  steadyP99: number;
  longestAtSwap: number;
  longestDuring: number;
  pauseMs: number;
}

interface Post {
  start: number;
  end: number;
}

export async function measureRebuildPause(databaseUrl: string, secret: string, events: number, clients = 16, seconds = 5): Promise<RebuildPauseFigures> {
  const env = { DATABASE_URL: databaseUrl, AUTH_JWT_SECRET: secret, REDIS_URL: '' };
  if ((await runCommand(['migrate'], env)) !== 0) throw new Error('parley migrate failed');
  const history = await withClient(databaseUrl, async (client) => {
    const written = await writeBulkHistory(client, { chats: Math.max(1, Math.round(events / 500)), eventsPerChat: 500 });
    // Otherwise autovacuum takes up the fresh rows while the writers are measured before the rebuild.
    await client.query('vacuum analyze events');
    return written;
  });
  const all = await startInstance('all', env);
  try {
    const api = new Api(all.url, secret);
    const chats = await Promise.all(Array.from({ length: clients }, (_, i) => api.createChat(`rebuild-${i}`, [`rebuild-peer-${i}`])));
    const posts: Post[] = [];
    let stopping = false;
    const writers = chats.map(async (chatId, i) => {
      for (let n = 0; !stopping; n++) {
        const start = performance.now();
        await api.post(`rebuild-${i}`, chatId, `post ${n}`);
        posts.push({ start, end: performance.now() });
      }
    });
    // A warm-up, then the steady state before the rebuild: measured windows, so deliberate waits.
    await pause(2 * seconds * 1000);
    const rebuildStart = performance.now();
    // The operator's command, as its own process: its work is not this process's.
    const code = await runCommand(['projections', 'rebuild'], { ...env, LOG_LEVEL: 'warn' });
    const rebuildEnd = performance.now();
    if (code !== 0) throw new Error(`parley projections rebuild exited with ${code}`);
    await pause(seconds * 1000);
    stopping = true;
    await Promise.all(writers);

    const before = posts.filter((p) => p.start >= rebuildStart - seconds * 1000 && p.end < rebuildStart);
    const after = posts.filter((p) => p.start > rebuildEnd && p.end <= rebuildEnd + seconds * 1000);
    const during = posts.filter((p) => p.start >= rebuildStart && p.end <= rebuildEnd);
    const overlapping = posts.filter((p) => p.end >= rebuildStart && p.start <= rebuildEnd);
    const atSwap = posts.filter((p) => p.end >= rebuildEnd - 1000 && p.start <= rebuildEnd);
    const steadyP99 = quantile([...before, ...after].map(latency), 0.99);
    const longestAtSwap = Math.max(...atSwap.map(latency));
    return {
      events: history,
      rebuildSeconds: (rebuildEnd - rebuildStart) / 1000,
      clients,
      rateBefore: before.length / seconds,
      rateDuring: during.length / ((rebuildEnd - rebuildStart) / 1000),
      rateAfter: after.length / seconds,
      steadyP99,
      longestAtSwap,
      longestDuring: Math.max(...overlapping.map(latency)),
      pauseMs: longestAtSwap - steadyP99,
    };
  } finally {
    await all.stop();
  }
}

export function rebuildPauseLines(f: RebuildPauseFigures): string[] {
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  return [
    `## Projections rebuild beside writes (${f.events} events, ${f.clients} closed-loop writers)`,
    '',
    `| rebuild | posts/s before | during | after | steady p99 | longest in the swap's last second | longest during | pause at the swap |`,
    '|---|---|---|---|---|---|---|---|',
    `| ${f.rebuildSeconds.toFixed(1)} s | ${Math.round(f.rateBefore)} | ${Math.round(f.rateDuring)} | ${Math.round(f.rateAfter)} | ${ms(f.steadyP99)} | ${ms(f.longestAtSwap)} | ${ms(f.longestDuring)} | ${ms(f.pauseMs)} |`,
  ];
}

function latency(post: Post): number {
  return post.end - post.start;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}
