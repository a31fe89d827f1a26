/**
 * Where a run's Redis is: one redis-server of its own (`single`), or a Redis Cluster of its own (3
 * masters, 3 replicas, every node behind a proxy) that every process reaches with REDIS_CLUSTER_URLS.
 */
export type RedisMode = 'single' | 'cluster';

/** One seed on one kind of Redis: one Jest test. */
export interface ChaosRun {
  seed: number;
  redis: RedisMode;
  /** The Redis Cluster seed the bounded profile adds by default: the quick cluster faults only. */
  clusterFaultsOnly: boolean;
}

/**
 * How big a chaos run is. `bounded` runs inside `npm test` (one seed on one Redis with every quick fault
 * once, one blackhole and on every other seed one more slow fault, a small workload; then the same seed
 * on a Redis Cluster with the quick cluster faults only: a master killed, a failover, a slot migrated);
 * `full` is `npm run test:chaos` (several seeds, every fault, more operations). CHAOS_SEED=<n> runs
 * exactly that seed, CHAOS_SEEDS=<n> that many random seeds, CHAOS_FAULTS=a,b only those faults (`none`:
 * only the calm round). CHAOS_REDIS=single or CHAOS_REDIS=cluster runs every seed on that Redis only,
 * choosing among the faults that apply there as the profile does (full: all of them, so on a cluster the
 * four cluster faults on every seed; bounded: the quick ones and one or two slow ones). Unset, the
 * bounded profile runs both runs above and the full one a single Redis.
 */
export interface ChaosProfile {
  name: 'bounded' | 'full';
  seeds: number[];
  /** The Jest tests: each seed on the Redis it runs on. */
  runs: ChaosRun[];
  /** CHAOS_REDIS, when set: every run on that Redis, with every fault that applies there. */
  redis: RedisMode | null;
  users: number;
  maxChats: number;
  /** Operations per round without a fault; with one, a third before it and a third after it. */
  opsPerRound: number;
  /** Operations a fault lets through while it lasts (Redis down, a relay or receiver dead). */
  opsDuringFault: number;
  concurrency: number;
  /** A user's pause between operations while a fault lasts (the workload then runs for the fault's length). */
  thinkMs: [number, number];
  freezeMs: number;
  /** A blackholed link stays so for a seeded length in this range. */
  partitionMs: [number, number];
  /** How long the oracle waits for the system to catch up after a round. */
  quiesceTimeoutMs: number;
  /**
   * A failing seed's rounds stop (and say so) once this much time has gone, so a failing run ends in
   * bounded time; each slow fault (a partition, a restart of PostgreSQL, two at once) adds `slowFaultBudgetMs`.
   */
  budgetMs: number;
  slowFaultBudgetMs: number;
  faults: string[] | null;
  /** CHAOS_AVOID_KNOWN_DEFECTS=1: a diagnostic workload that steers around the known defects (see Workload). */
  avoidKnownDefects: boolean;
}

export function chaosProfile(env: NodeJS.ProcessEnv = process.env): ChaosProfile {
  const name = env.CHAOS_PROFILE === 'full' ? 'full' : 'bounded';
  const count = Number(env.CHAOS_SEEDS ?? (name === 'full' ? 3 : 1));
  const seeds = env.CHAOS_SEED
    ? env.CHAOS_SEED.split(',').map((s) => Number(s))
    : Array.from({ length: count }, () => Math.floor(Math.random() * 2 ** 31));
  if (seeds.some((seed) => !Number.isInteger(seed) || seed < 0)) throw new Error(`CHAOS_SEED must be non-negative integers, got ${env.CHAOS_SEED}`);
  const faults = env.CHAOS_FAULTS === 'none' ? [] : env.CHAOS_FAULTS ? env.CHAOS_FAULTS.split(',').map((f) => f.trim()) : null;
  const avoidKnownDefects = env.CHAOS_AVOID_KNOWN_DEFECTS === '1';
  if (env.CHAOS_REDIS && env.CHAOS_REDIS !== 'single' && env.CHAOS_REDIS !== 'cluster') throw new Error(`CHAOS_REDIS must be single or cluster, got ${env.CHAOS_REDIS}`);
  const redis = (env.CHAOS_REDIS as RedisMode | undefined) ?? null;
  const runs: ChaosRun[] = redis
    ? seeds.map((seed) => ({ seed, redis, clusterFaultsOnly: false }))
    : name === 'full'
      ? seeds.map((seed) => ({ seed, redis: 'single', clusterFaultsOnly: false }))
      : [
          ...seeds.map((seed) => ({ seed, redis: 'single' as const, clusterFaultsOnly: false })),
          ...seeds.slice(0, 1).map((seed) => ({ seed, redis: 'cluster' as const, clusterFaultsOnly: true })),
        ];
  return name === 'full'
    ? { name, seeds, runs, redis, users: 5, maxChats: 10, opsPerRound: 150, opsDuringFault: 50, concurrency: 4, thinkMs: [20, 150], freezeMs: 10_000, partitionMs: [20_000, 40_000], quiesceTimeoutMs: 90_000, budgetMs: 4 * 60_000, slowFaultBudgetMs: 1.5 * 60_000, faults, avoidKnownDefects }
    : { name, seeds, runs, redis, users: 4, maxChats: 6, opsPerRound: 45, opsDuringFault: 15, concurrency: 3, thinkMs: [30, 200], freezeMs: 10_000, partitionMs: [20_000, 40_000], quiesceTimeoutMs: 60_000, budgetMs: 3.5 * 60_000, slowFaultBudgetMs: 1.5 * 60_000, faults, avoidKnownDefects };
}
