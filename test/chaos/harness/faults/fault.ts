import type { ChaosCluster } from '../cluster';
import type { Liveness } from '../liveness';
import type { Prng } from '../prng';
import type { UserSession } from '../resuming-client';
import type { Workload } from '../workload';

export interface FaultContext {
  cluster: ChaosCluster;
  workload: Workload;
  sessions: Map<string, UserSession>;
  rng: Prng;
  /** Operations to let through while a fault that is not timed lasts. */
  opsDuringFault: number;
  /** How long a frozen relay leader stays frozen. */
  freezeMs: number;
  /** How long a partition lasts: a seeded length in this range. */
  partitionMs: [number, number];
  /** Readiness, fail-over and recovery timings, and the bounds on them. */
  liveness: Liveness;
  /** What was seen, for the report. */
  observe(note: string): void;
}

/**
 * A fault, injected while the workload runs. Every fault heals before it returns: a killed process is
 * started again, a frozen one thawed, a stopped server started, a blackholed link healed or reset (in
 * `finally`, so that a failure in between cannot leave it hurt), and the next fault begins from a
 * whole cluster.
 */
export interface Fault {
  name: string;
  inject(context: FaultContext): Promise<void>;
}

/** Holds a fault for its length: the one wait that is about time itself, not an effect. */
export function hold(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))); // deliberate: the fault's length
}

/** Heal (forward what waited) or reset (end every connection): how a partition ends, chosen by the seed. */
export type PartitionEnd = 'heal' | 'reset';
