import type { ChaosCluster, Instance } from '../cluster';
import type { Liveness } from '../liveness';
import type { DeliveryProbe } from '../probe';
import type { Prng } from '../prng';
import type { RedisMode } from '../profile';
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
  /** The delivery probe (on a Redis Cluster, with a probe chat in every partition: `probe.of(p)`). */
  probe: DeliveryProbe;
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
  /** The one kind of Redis the fault applies to (both when absent), and why it cannot run on the other: said in the report. */
  only?: { redis: RedisMode; reason: string };
  inject(context: FaultContext): Promise<void>;
}

/** A fault that stops the run's one redis-server: there is no such server on a Redis Cluster. */
export const STOPS_THE_ONE_REDIS: NonNullable<Fault['only']> = {
  redis: 'single',
  reason: 'stops the one redis-server; a Redis Cluster has no one server to stop (its counterpart is redis-master-kill: a master SIGKILLed, its replica promoted)',
};

/** Whether a fault runs on this kind of Redis. */
export function appliesTo(fault: Fault, redis: RedisMode): boolean {
  return !fault.only || fault.only.redis === redis;
}

/** Holds a fault for its length: the one wait that is about time itself, not an effect. */
export function hold(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))); // deliberate: the fault's length
}

/** Heal (forward what waited) or reset (end every connection): how a partition ends, chosen by the seed. */
export type PartitionEnd = 'heal' | 'reset';

/** A relay that leads, the partitions it leads, and the busy chat that made it the target. */
export interface TargetLeader {
  relay: Instance;
  partitions: number[];
  chatId: string;
  partition: number;
}

/**
 * The relay leading the partition of the busiest chat (most posts so far), with every partition it
 * leads: the one whose fault hurts the most deliveries. Leadership is per partition (DESIGN.md §3), so
 * "the leader" of a fault is a relay that leads at least one partition.
 */
export async function busyLeader({ cluster, workload }: Pick<FaultContext, 'cluster' | 'workload'>): Promise<TargetLeader> {
  const chats = [...workload.chats.values()].sort((a, b) => b.messages.length - a.messages.length || a.id.localeCompare(b.id));
  const chatId = chats[0]!.id;
  const partition = (await cluster.partitionsOf([chatId])).get(chatId)!;
  const relay = await cluster.leaderOf(partition);
  const partitions = await cluster.partitionsLedBy(relay.name);
  return { relay, partitions: partitions.includes(partition) ? partitions : [...partitions, partition].sort(), chatId, partition };
}

export function describeTarget(target: TargetLeader): string {
  return `${target.relay.name} (leading partitions ${target.partitions.join(',')}, among them ${target.partition} of the busiest chat)`;
}
