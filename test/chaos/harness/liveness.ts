import { describeLeads, type ChaosCluster, type Instance, type PartitionLead } from './cluster';
import type { DeliveryProbe } from './probe';

/**
 * How fast the cluster must notice a fault and get over it (issue "Hardening", DESIGN.md §3 and §6):
 * a process cut from what it needs says 503 within this; delivery works again within this of healing;
 * a partition whose relay leader is cut off, frozen or dead has a leader again within this.
 */
export const LIVENESS_BOUND_MS = 10_000;
/** How long a measure goes on past its bound, so that the report says how late, not only "late". */
export const OVERTIME_MS = 45_000;

/** One timing a fault took, for the report: `ms` null when the effect never came while it was watched. */
export interface Measure {
  what: string;
  ms: number | null;
  bound?: number;
  detail?: string;
  /** Its column in the report's summary of the Redis Cluster faults (see report.ts). */
  column?: ClusterColumn;
}

/** The columns of the report's summary line of a Redis Cluster fault. */
export type ClusterColumn = 'fault' | 'noticed' | 'resubscribed' | 'filled' | 'delivery' | 'caught up';

export interface LivenessSink {
  measure(measure: Measure): void;
  /** A liveness bound was broken: a failure of its own kind, beside the oracle's. */
  breach(bound: string, detail: string): void;
}

/** The liveness checks a fault calls at its moments: when it strikes, while it lasts and once it has healed. */
export class Liveness {
  constructor(private readonly cluster: ChaosCluster, private readonly probe: DeliveryProbe, private readonly sink: LivenessSink) {}

  /** A timing a fault measured itself (from the processes' logs or metrics), for the report. */
  note(measure: Measure): void {
    this.sink.measure(measure);
  }

  /** A bound a fault checked itself, broken. */
  broken(bound: string, detail: string): void {
    this.sink.breach(bound, detail);
  }

  /**
   * Each of `instances` answers `/readyz` 503 within `watchMs` of `since`: timed, without a bound (on a
   * Redis Cluster whether a process notices one master cut off depends on what it has on that master).
   */
  async timesNotReady(instances: Instance[], since: number, watchMs: number): Promise<void> {
    await Promise.all(instances.map(async (instance) => {
      let ms: number | null = null;
      let body = '';
      const probes: Promise<void>[] = [];
      while (ms === null && Date.now() - since <= watchMs) {
        probes.push(this.cluster.readiness(instance).then((answer) => {
          if (answer.status === 503 && ms === null) [ms, body] = [Date.now() - since, answer.body];
        }));
        await poll();
      }
      await Promise.all(probes);
      this.sink.measure({ what: `${instance.name} /readyz 503`, ms, detail: ms === null ? `stayed ready for ${watchMs} ms` : body });
    }));
  }

  /**
   * A probe posted now through any sender reaches every receiver's subscriber of the probe chat in
   * `partition` within `bound` (watched for `watchMs`): delivery on that partition works (again).
   */
  async delivers(what: string, since: number, partition: number, watchMs: number, bound: { ms: number; name: string } | null): Promise<number | null> {
    const delivery = await this.probe.of(partition).deliver(since, watchMs);
    this.sink.measure({ what, ms: delivery.ms, bound: bound?.ms, detail: `partition ${partition}: ${delivery.detail}`, column: 'delivery' });
    if (bound && (delivery.ms === null || delivery.ms > bound.ms)) this.sink.breach(bound.name, `partition ${partition}: ${delivery.detail}`);
    return delivery.ms;
  }

  /**
   * Every post of a probe stream (`ids`, in `partition`) reached every receiver's subscriber, once and in
   * order, timed from `since`: what was published while the fault lasted was not lost.
   */
  async streamArrived(what: string, ids: string[], since: number, partition: number, bound: { ms: number; name: string }): Promise<void> {
    const arrival = await this.probe.of(partition).arrived(ids, since, bound.ms + OVERTIME_MS);
    this.sink.measure({ what, ms: arrival.ms, bound: bound.ms, detail: `partition ${partition}: ${arrival.detail}${arrival.problems.length ? `; ${arrival.problems.slice(0, 5).join('; ')}` : ''}`, column: 'caught up' });
    if (arrival.ms === null || arrival.ms > bound.ms) this.sink.breach(bound.name, `partition ${partition}: ${arrival.detail}`);
    if (arrival.problems.length) this.sink.breach('a probe post repeated or out of order', `partition ${partition}: ${arrival.problems.join('; ')}`);
  }

  /** Each of `instances` answers `/readyz` 503 within the bound after `since` (watched for `watchMs`). */
  async turnsNotReady(instances: Instance[], since: number, cause: string, watchMs = LIVENESS_BOUND_MS): Promise<void> {
    await Promise.all(instances.map(async (instance) => {
      const seen = new Map<string, number>();
      let ms: number | null = null;
      let body = '';
      // Probes overlap (one every poll, each with its own deadline), so that a hung one does not hide
      // for its whole deadline the moment the answer turns 503.
      const probes: Promise<void>[] = [];
      while (ms === null && Date.now() - since <= watchMs) {
        probes.push(this.cluster.readiness(instance).then((answer) => {
          seen.set(String(answer.status), (seen.get(String(answer.status)) ?? 0) + 1);
          if (answer.status === 503 && ms === null) [ms, body] = [Date.now() - since, answer.body];
        }));
        await poll();
      }
      await Promise.all(probes);
      const answers = [...seen.entries()].map(([status, n]) => `${status}×${n}`).join(', ');
      this.sink.measure({ what: `${instance.name} /readyz 503`, ms, bound: LIVENESS_BOUND_MS, detail: ms === null ? `answers ${answers}` : body });
      if (ms === null || ms > LIVENESS_BOUND_MS) {
        this.sink.breach('readiness not 503 within 10 s of a partition', `${instance.name} (${cause}): ${ms === null ? `never 503 in ${watchMs} ms` : `503 only after ${ms} ms`}; /readyz answered ${answers}`);
      }
    }));
  }

  /** Each of `instances` still answers 200: by design it does not need what is down. */
  async staysReady(instances: Instance[], cause: string): Promise<void> {
    await Promise.all(instances.map(async (instance) => {
      const answer = await this.cluster.readiness(instance);
      this.sink.measure({ what: `${instance.name} /readyz while ${cause}`, ms: null, detail: `${answer.status} ${answer.body}` });
      if (answer.status !== 200) this.sink.breach('readiness lost for a dependency the role does not need', `${instance.name} answered ${answer.status} while ${cause}: ${answer.body}`);
    }));
  }

  /**
   * Time until each of `partitions` (those `from` led) is led by another live relay, by the partitions'
   * leadership rows in PostgreSQL, watched until `watchMs` after `since`. `bounded`: for a leader cut
   * off, frozen or dead, whose partitions must have a leader again in time.
   */
  async partitionsMoved(from: string, partitions: number[], since: number, watchMs: number, bounded: boolean): Promise<void> {
    let leads: PartitionLead[] = [];
    let moved = false;
    while (Date.now() - since <= watchMs) {
      leads = (await this.cluster.leadership().catch(() => null)) ?? leads;
      moved = partitions.every((p) => leads[p]?.relay && leads[p]!.relay!.name !== from);
      if (moved) break;
      await poll();
    }
    const ms = moved ? Date.now() - since : null;
    const where = `partitions ${partitions.join(',')} of ${from}; now ${describeLeads(leads)}`;
    this.sink.measure({ what: 'its partitions led by another relay', ms, bound: bounded ? LIVENESS_BOUND_MS : undefined, detail: ms === null ? `not all in ${watchMs} ms: ${where}` : where });
    if (bounded && (ms === null || ms > LIVENESS_BOUND_MS)) {
      this.sink.breach('a partition had no leader again within 10 s of its leader\'s fault', `${ms === null ? `not within ${watchMs} ms` : `only after ${ms} ms`}: ${where}`);
    }
  }

  /** A relay back from a fault (or one that joined) leads a share of the partitions again within `timeoutMs`. */
  async takesShare(relay: string, since: number, timeoutMs: number): Promise<number[]> {
    let led: number[] = [];
    while (Date.now() - since <= timeoutMs) {
      led = (await this.cluster.partitionsLedBy(relay).catch(() => null)) ?? led;
      if (led.length) break;
      await poll();
    }
    this.sink.measure({ what: `${relay} leads a share`, ms: led.length ? Date.now() - since : null, detail: led.length ? `partitions ${led.join(',')}` : `none in ${timeoutMs} ms` });
    if (!led.length) this.sink.breach('a live relay took no share of the partitions', `${relay} led no partition ${timeoutMs} ms after it was back`);
    return led;
  }

  /**
   * After healing at `healedAt`: a probe post (through `via`, the sender that was hurt) reaches a live
   * subscriber on every receiver within the bound, and every process says ready again (timed).
   */
  async recovered(healedAt: number, via?: string, partition?: number): Promise<void> {
    const [delivery] = await Promise.all([this.probe.of(partition).deliver(healedAt, LIVENESS_BOUND_MS + OVERTIME_MS, { via }), this.readyAgain(healedAt)]);
    this.sink.measure({
      what: 'delivery resumed after healing',
      ms: delivery.ms,
      bound: LIVENESS_BOUND_MS,
      detail: partition === undefined ? delivery.detail : `partition ${partition}: ${delivery.detail}`,
      ...(partition === undefined ? {} : { column: 'delivery' as const }),
    });
    if (delivery.ms === null || delivery.ms > LIVENESS_BOUND_MS) {
      this.sink.breach('delivery not resumed within 10 s of healing', delivery.detail);
    }
  }

  /**
   * While one process is cut off, the rest of the cluster goes on: a probe posted now (through `via`,
   * a sender that was not hurt) reaches every receiver but `except` (the one that was) within the bound
   * (watched for `watchMs`, the partition's length).
   */
  async goesOn(cause: string, watchMs: number, options: { via?: string; except?: string; partition?: number }): Promise<void> {
    const since = Date.now();
    const delivery = await this.probe.of(options.partition).deliver(since, watchMs, options);
    this.sink.measure({ what: 'delivery elsewhere during the partition', ms: delivery.ms, bound: LIVENESS_BOUND_MS, detail: options.partition === undefined ? delivery.detail : `partition ${options.partition}: ${delivery.detail}` });
    if (delivery.ms === null || delivery.ms > LIVENESS_BOUND_MS) {
      this.sink.breach('the rest of the cluster stalled while one process was cut off', `${cause}: ${delivery.detail}`);
    }
  }

  /**
   * A probe before the fault (of every partition, when there is a probe chat in each), so that every
   * receiver's subscribers are in place and the baseline is known.
   */
  async baseline(): Promise<void> {
    const since = Date.now();
    const deliveries = await Promise.all(this.probe.all.map((probe) => probe.deliver(since, 30_000)));
    const slowest = deliveries.reduce((a, b) => ((b.ms ?? Infinity) > (a.ms ?? Infinity) ? b : a));
    this.sink.measure({ what: 'delivery before the fault', ms: slowest.ms, detail: deliveries.length > 1 ? `slowest of ${deliveries.length} probe chats: ${slowest.detail}` : slowest.detail });
  }

  private async readyAgain(healedAt: number): Promise<void> {
    const times = await Promise.all(this.cluster.alive().filter((i) => !i.paused).map(async (instance) => {
      while (Date.now() - healedAt <= LIVENESS_BOUND_MS + OVERTIME_MS) {
        if ((await this.cluster.readiness(instance)).status === 200) return { name: instance.name, ms: Date.now() - healedAt };
        await poll();
      }
      return { name: instance.name, ms: null };
    }));
    const late = times.filter((t) => t.ms === null).map((t) => t.name);
    const slowest = times.reduce((a, b) => ((b.ms ?? Infinity) > (a.ms ?? Infinity) ? b : a), times[0]!);
    this.sink.measure({ what: 'every process ready again after healing', ms: late.length ? null : slowest.ms, detail: late.length ? `not ready: ${late.join(', ')}` : `last: ${slowest.name}` });
  }
}

/** Between two looks at an effect (readiness, a log line): polling it, as eventually() does. */
function poll(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 200)); // deliberate: the poll interval between two looks
}
