import type { Prng } from '../prng';
import type { ChaosRun, RedisMode } from '../profile';
import { BLACKHOLES } from './blackholes';
import { CLUSTER_FAULTS } from './cluster-faults';
import { DEPENDENCY_FAULTS } from './dependency-faults';
import { DOUBLE_FAULTS } from './double-faults';
import { appliesTo, type Fault } from './fault';
import { PROCESS_FAULTS } from './process-faults';

export type { Fault, FaultContext } from './fault';

/** The Redis Cluster faults that take seconds: a master killed, a failover, a slot migrated. */
const CLUSTER_QUICK = CLUSTER_FAULTS.filter((f) => f.name !== 'redis-master-blackhole');
/** The faults every bounded run has (those that apply to its Redis): each takes seconds. */
const QUICK = [...PROCESS_FAULTS, ...DEPENDENCY_FAULTS.filter((f) => f.name !== 'pg-restart'), ...CLUSTER_QUICK];
/** The faults that take longer (a partition lasts 20–40 s): all of them in the full profile, a seeded few in the bounded one. */
const SLOW = {
  blackholes: [...BLACKHOLES, ...CLUSTER_FAULTS.filter((f) => f.name === 'redis-master-blackhole')],
  others: [...DEPENDENCY_FAULTS.filter((f) => f.name === 'pg-restart'), ...DOUBLE_FAULTS],
};

export const FAULTS: Fault[] = [...QUICK, ...SLOW.blackholes, ...SLOW.others];

/** A fault a run does not inject, and why (for the report). */
export interface SkippedFault {
  name: string;
  reason: string;
}

/**
 * Which faults a run injects, of those that apply to its Redis (the others are skipped, with the reason,
 * in the report). Full: every one, in a seeded order. Bounded (inside `npm test`): the quick ones, one
 * blackhole, and on every other seed one more slow fault, so that `npm test` stays short while its runs
 * over time cover every fault; the Redis Cluster seed `npm test` adds after the single-Redis one
 * (`clusterFaultsOnly`) has only the quick cluster faults, in a seeded order.
 */
export function chooseFaults(profile: 'bounded' | 'full', named: string[] | null, rng: Prng, run: Pick<ChaosRun, 'redis' | 'clusterFaultsOnly'>): { faults: Fault[]; skipped: SkippedFault[] } {
  const applies = (fault: Fault) => appliesTo(fault, run.redis);
  const skip = (fault: Fault): SkippedFault => ({ name: fault.name, reason: fault.only!.reason });
  if (named) {
    const known = new Map(FAULTS.map((f) => [f.name, f]));
    const chosen = named.map((name) => {
      const fault = known.get(name);
      if (!fault) throw new Error(`unknown fault ${name}; known: ${[...known.keys()].join(', ')}`);
      return fault;
    });
    return { faults: chosen.filter(applies), skipped: chosen.filter((f) => !applies(f)).map(skip) };
  }
  const skipped = FAULTS.filter((f) => !applies(f)).map(skip);
  if (profile === 'full') return { faults: rng.shuffle(FAULTS.filter(applies)), skipped };
  if (run.clusterFaultsOnly) {
    return {
      faults: rng.shuffle(CLUSTER_QUICK),
      skipped: [...skipped, { name: 'the other faults', reason: 'this bounded Redis Cluster seed has the quick cluster faults only; the single-Redis seed before it runs the others, CHAOS_REDIS=cluster CHAOS_PROFILE=full all of them on a cluster' }],
    };
  }
  const slow = [rng.pick(SLOW.blackholes.filter(applies)), ...(rng.chance(0.5) ? [rng.pick(SLOW.others.filter(applies))] : [])];
  return { faults: [...QUICK.filter(applies), ...slow], skipped };
}

/** A fault that takes tens of seconds: it adds to a run's time budget. */
export function isSlow(fault: Fault): boolean {
  return !QUICK.includes(fault);
}

/** The most slow faults one run of this profile can have: what its time budget must allow for. */
export function mostSlowFaults(profile: 'bounded' | 'full', named: string[] | null, redis: RedisMode = 'single'): number {
  const slow = FAULTS.filter((f) => isSlow(f) && appliesTo(f, redis));
  if (named) return slow.filter((f) => named.includes(f.name)).length;
  return profile === 'full' ? slow.length : 2;
}
