/**
 * What the relay needs of its leadership: the fencing epoch to publish and save progress under, and a
 * way to report that a publish or a save was refused (docs/architecture.md, Leadership).
 */
export interface RelayLead {
  /** The `relay_leadership` row: a checkpoint is saved only while that row still holds our epoch. */
  readonly name: string;
  /** Our epoch while we lead and our lease is fresh; null otherwise (then nothing is published). */
  epoch(): number | null;
  /**
   * A publish (`fencedBy`: the newer epoch the transport holds) or a checkpoint save was refused. Answers
   * the epoch to go on with when we still lead after all, null when we were replaced (then demoted).
   */
  refused(fencedBy?: number): Promise<number | null>;
  /** Calls `listener` each time this instance takes the lead under a new epoch. */
  whenGained(listener: () => void): void;
  /**
   * This relay cannot publish, so it gives the lead up for one that can: resolves once it no longer
   * leads. `reason` is for the log.
   */
  stepDown(reason: string): Promise<void>;
}
