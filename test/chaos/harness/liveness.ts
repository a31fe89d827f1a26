import { describeLeads, type ChaosCluster, type Instance, type PartitionLead } from './cluster';
import type { DeliveryProbe } from './probe';

/**
 * How fast the cluster must notice a fault and get over it (issue "Hardening", DESIGN.md §3 and §6):
 * a process cut from what it needs says 503 within this; delivery works again within this of healing;
 * a partition whose relay leader is cut off, frozen or dead has a leader again within this.
 */
export const LIVENESS_BOUND_MS = 10_000;
/** How long a measure goes on past its bound, so that the report says how late, not only "late". */
const OVERTIME_MS = 45_000;

/** One timing a fault took, for the report: `ms` null when the effect never came while it was watched. */
export interface Measure {
  what: string;
  ms: number | null;
  bound?: number;
  detail?: string;
}

export interface LivenessSink {
  measure(measure: Measure): void;
  /** A liveness bound was broken: a failure of its own kind, beside the oracle's. */
  breach(bound: string, detail: string): void;
}

/** The liveness checks a fault calls at its moments: when it strikes, while it lasts and once it has healed. */
export class Liveness {
  constructor(private readonly cluster: ChaosCluster, private readonly probe: DeliveryProbe, private readonly sink: LivenessSink) {}

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
  async recovered(healedAt: number, via?: string): Promise<void> {
    const [delivery] = await Promise.all([this.probe.deliver(healedAt, LIVENESS_BOUND_MS + OVERTIME_MS, { via }), this.readyAgain(healedAt)]);
    this.sink.measure({ what: 'delivery resumed after healing', ms: delivery.ms, bound: LIVENESS_BOUND_MS, detail: delivery.detail });
    if (delivery.ms === null || delivery.ms > LIVENESS_BOUND_MS) {
      this.sink.breach('delivery not resumed within 10 s of healing', delivery.detail);
    }
  }

  /**
   * While one process is cut off, the rest of the cluster goes on: a probe posted now (through `via`,
   * a sender that was not hurt) reaches every receiver but `except` (the one that was) within the bound
   * (watched for `watchMs`, the partition's length).
   */
  async goesOn(cause: string, watchMs: number, options: { via?: string; except?: string }): Promise<void> {
    const since = Date.now();
    const delivery = await this.probe.deliver(since, watchMs, options);
    this.sink.measure({ what: 'delivery elsewhere during the partition', ms: delivery.ms, bound: LIVENESS_BOUND_MS, detail: delivery.detail });
    if (delivery.ms === null || delivery.ms > LIVENESS_BOUND_MS) {
      this.sink.breach('the rest of the cluster stalled while one process was cut off', `${cause}: ${delivery.detail}`);
    }
  }

  /** A probe before the fault, so that every receiver's subscriber is in place and the baseline is known. */
  async baseline(): Promise<void> {
    const since = Date.now();
    const delivery = await this.probe.deliver(since, 30_000);
    this.sink.measure({ what: 'delivery before the fault', ms: delivery.ms, detail: delivery.detail });
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
