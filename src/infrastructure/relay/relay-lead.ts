/**
 * What the relay needs of its leadership, per ordering partition (DESIGN.md §3 "Ordering partitions"):
 * which partitions it leads, the fencing epoch of each to publish and save progress under, and a way
 * to report that a publish or a save was refused (docs/architecture.md, Leadership).
 */
export interface RelayLead {
  /** The partitions led now with a fresh lease, each with its epoch (publishes go out under it). */
  led(): ReadonlyMap<number, number>;
  /** A partition's epoch while we lead it and our lease is fresh; null otherwise (then nothing of it is published). */
  epoch(partition: number): number | null;
  /**
   * A publish of the partition (`fencedBy`: the newer epoch the transport holds) or a checkpoint save
   * was refused. Answers the epoch to go on with when we still lead it after all, null when we were
   * replaced (then it is no longer led).
   */
  refused(partition: number, fencedBy?: number): Promise<number | null>;
  /** Calls `listener` each time this instance takes the lead of a partition under a new epoch. */
  whenGained(listener: (partition: number) => void): void;
  /** Calls `listener` each time this instance stops leading a partition (released, replaced, session lost). */
  whenLost(listener: (partition: number) => void): void;
  /**
   * Called before partitions are handed over to another relay (they are no longer led by then, so
   * nothing more of them is published): save what was published, so that the next leader repeats
   * little. Must not call back into the leadership.
   */
  beforeRelease(handler: (partitions: number[]) => Promise<void>): void;
  /**
   * This relay cannot publish, so it gives every partition up for a relay that can: resolves once it
   * leads none. `reason` is for the log.
   */
  stepDown(reason: string): Promise<void>;
}

/** A partition's `relay_leadership` row and its `relay_checkpoints` row share this name. */
export function partitionName(partition: number): string {
  return `partition:${partition}`;
}
