import { performance } from 'node:perf_hooks';

/**
 * How long the relay has been unable to publish: from the start of the first attempt that failed, with
 * none succeeding since. Only attempts count, and the relay attempts only when it has rows to publish or
 * an epoch to claim, so an idle relay never stalls.
 */
export class PublishStall {
  private failingSince: number | null = null;

  /** An attempt that began at `startedAt` (`performance.now()`) failed; answers how long publishing has failed. */
  failed(startedAt: number): number {
    this.failingSince ??= startedAt;
    return performance.now() - this.failingSince;
  }

  /** A publish went through (or Redis answered it with a refusal): the transport works. */
  clear(): void {
    this.failingSince = null;
  }
}
