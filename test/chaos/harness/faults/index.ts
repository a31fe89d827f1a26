import type { Prng } from '../prng';
import { BLACKHOLES } from './blackholes';
import { DEPENDENCY_FAULTS } from './dependency-faults';
import { DOUBLE_FAULTS } from './double-faults';
import type { Fault } from './fault';
import { PROCESS_FAULTS } from './process-faults';

export type { Fault, FaultContext } from './fault';

/** The faults every bounded run has: each takes seconds. */
const QUICK = [...PROCESS_FAULTS, ...DEPENDENCY_FAULTS.filter((f) => f.name !== 'pg-restart')];
/** The faults that take longer (a partition lasts 20–40 s): all of them in the full profile, a seeded few in the bounded one. */
const SLOW = { blackholes: BLACKHOLES, others: [...DEPENDENCY_FAULTS.filter((f) => f.name === 'pg-restart'), ...DOUBLE_FAULTS] };

export const FAULTS: Fault[] = [...QUICK, ...SLOW.blackholes, ...SLOW.others];

/**
 * Which faults a seed runs. Full: every fault, in a seeded order. Bounded (inside `npm test`): the
 * quick ones, one blackhole, and on every other seed one more slow fault, so that `npm test` stays
 * short while its runs over time cover every fault.
 */
export function chooseFaults(profile: 'bounded' | 'full', named: string[] | null, rng: Prng): Fault[] {
  if (named) {
    const known = new Map(FAULTS.map((f) => [f.name, f]));
    return named.map((name) => {
      const fault = known.get(name);
      if (!fault) throw new Error(`unknown fault ${name}; known: ${[...known.keys()].join(', ')}`);
      return fault;
    });
  }
  if (profile === 'full') return rng.shuffle(FAULTS);
  const slow = [rng.pick(SLOW.blackholes), ...(rng.chance(0.5) ? [rng.pick(SLOW.others)] : [])];
  return [...QUICK, ...slow];
}

/** A fault that takes tens of seconds: it adds to a run's time budget. */
export function isSlow(fault: Fault): boolean {
  return !QUICK.includes(fault);
}

/** The most slow faults one seed of this profile can run: what its time budget must allow for. */
export function mostSlowFaults(profile: 'bounded' | 'full', named: string[] | null): number {
  if (named) return FAULTS.filter((f) => named.includes(f.name) && isSlow(f)).length;
  return profile === 'full' ? FAULTS.filter(isSlow).length : 2;
}
