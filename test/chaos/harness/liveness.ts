import type { ParleyProcess } from '../../support/parley-process';
import type { ChaosCluster, Instance } from './cluster';
import type { DeliveryProbe } from './probe';

/**
 * How fast the cluster must notice a fault and get over it (issue "Hardening", DESIGN.md §3 and §6):
 * a process cut from what it needs says 503 within this; delivery works again within this of healing;
 * a relay leader that is cut off or dead is replaced within this.
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
   * Time until a relay other than `from` says it gained the lead after `marks`, watched until
   * `watchMs` after `since`. `bounded`: for a leader cut off or dead, which must be replaced in time.
   */
  async leadMoved(from: string, marks: Map<ParleyProcess, number>, since: number, watchMs: number, bounded: boolean): Promise<void> {
    let successors: Instance[] = [];
    while (Date.now() - since <= watchMs) {
      successors = this.cluster.ledSince(marks, from);
      if (successors.length) break;
      await poll();
    }
    const ms = successors.length ? Date.now() - since : null;
    this.sink.measure({ what: 'another relay led', ms, bound: bounded ? LIVENESS_BOUND_MS : undefined, detail: successors.map((s) => s.name).join(', ') || `none in ${watchMs} ms` });
    if (bounded && (ms === null || ms > LIVENESS_BOUND_MS)) {
      this.sink.breach('no other relay led within 10 s of the leader\'s fault', `${from} led; ${ms === null ? `no other relay led in ${watchMs} ms` : `${successors[0]!.name} led only after ${ms} ms`}`);
    }
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
  return new Promise((resolve) => setTimeout(resolve, 200));
}
