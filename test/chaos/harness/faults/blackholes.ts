import type { Outcome } from '../api';
import type { Instance } from '../cluster';
import type { Dependency } from '../links';
import { busyLeader, hold, type Fault, type FaultContext, type PartitionEnd } from './fault';

/** Why a process's own Redis link cannot be cut on a Redis Cluster. */
const NO_REDIS_LINK_ON_A_CLUSTER = 'cuts one process\'s own link to the one Redis; a cluster client dials the node addresses the cluster announces, '
  + 'not a link of its own, so a per-process proxy would carry one connection of many (its counterpart is redis-master-blackhole: one master cut off from every process)';

/** A readiness probe in flight when the partition ends must not outlast it: stop watching this much before. */
const WATCH_MARGIN_MS = 2500;

/**
 * One process's link to Redis or PostgreSQL stops forwarding either way, connections left open, for a
 * seeded 20–40 s, as a dropped route or a host gone without a FIN; then it heals (what waited is
 * delivered, late) or resets (every connection ends), as the seed says.
 */
export const BLACKHOLES: Fault[] = [
  blackhole('receiver-redis-blackhole', 'redis', async ({ cluster, rng }) => rng.pick(cluster.alive('receiver'))),
  blackhole('relay-leader-redis-blackhole', 'redis', async (context) => (await busyLeader(context)).relay),
  blackhole('sender-pg-blackhole', 'postgres', async ({ cluster, rng }) => rng.pick(cluster.alive('sender'))),
  blackhole('receiver-pg-blackhole', 'postgres', async ({ cluster, rng }) => rng.pick(cluster.alive('receiver'))),
];

function blackhole(name: string, dependency: Dependency, pick: (context: FaultContext) => Promise<Instance>): Fault {
  return {
    name,
    ...(dependency === 'redis' ? { only: { redis: 'single' as const, reason: NO_REDIS_LINK_ON_A_CLUSTER } } : {}),
    async inject(context) {
      const { cluster, workload, rng, liveness, partitionMs, observe } = context;
      const victim = await pick(context);
      const leader = victim.role === 'relay';
      const lengthMs = rng.int(...partitionMs);
      const end: PartitionEnd = rng.chance(0.5) ? 'heal' : 'reset';
      const link = cluster.links.of(victim.name, dependency);
      // A sender is cut with writes in flight, and more keep coming to it while it is cut.
      const flood = victim.role === 'sender' ? workload.flood(4, victim.name) : null;
      await flood?.firstAnswer;
      const partitions = leader ? await cluster.partitionsLedBy(victim.name) : [];
      const before = workload.completed;
      const since = Date.now();
      link.blackhole();
      let healedAt: number;
      try {
        const watchMs = lengthMs - WATCH_MARGIN_MS;
        const cause = `${victim.name}'s ${dependency} link blackholed`;
        const watches = [liveness.turnsNotReady([victim], since, cause, watchMs)];
        if (leader) watches.push(liveness.partitionsMoved(victim.name, partitions, since, watchMs, true));
        // A relay leader cut off stops its partitions' delivery until they are led elsewhere: the bound on that is the lead moving.
        else watches.push(liveness.goesOn(cause, watchMs, victim.role === 'sender' ? { via: otherThan(victim, cluster.alive('sender')) } : { except: victim.name }));
        // The partition's length is the fault itself, not a wait for an effect.
        await hold(since + lengthMs - Date.now());
        await Promise.all(watches);
      } finally {
        if (end === 'reset') link.reset();
        else link.heal();
        healedAt = Date.now();
      }
      const during = workload.completed - before;
      const flooded = flood?.stop();
      await liveness.recovered(healedAt, victim.role === 'sender' ? victim.name : undefined);
      const floodNote = flood ? `; ${describeFlood(victim.name, await flooded!)}` : '';
      await cluster.allReady(60_000);
      if (leader) await cluster.allPartitionsLed();
      observe(`${victim.name}'s ${dependency} link blackholed for ${healedAt - since} ms, then ${end === 'reset' ? 'reset (RST)' : 'healed'}; ${during} operations completed meanwhile${floodNote}`);
    },
  };
}

function otherThan(victim: Instance, instances: Instance[]): string | undefined {
  return instances.find((i) => i.name !== victim.name)?.name;
}

function describeFlood(sender: string, outcomes: Outcome[]): string {
  const reasons = new Map<string, number>();
  for (const outcome of outcomes) for (const reason of outcome.transient) reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  return `a flood of posts to ${sender} (4 at a time): ${outcomes.length} posts, ${outcomes.filter((o) => o.ok).length} answered in the end, `
    + `${outcomes.filter((o) => o.attempts > 1).length} retried, ${outcomes.filter((o) => o.unknown).length} with an unknown outcome at some attempt, `
    + `the slowest attempt ${Math.max(0, ...outcomes.map((o) => o.longestAttemptMs))} ms; `
    + `failed attempts: ${[...reasons.entries()].map(([r, n]) => `${r} ×${n}`).join(', ') || 'none'}`;
}
