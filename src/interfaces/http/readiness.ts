/** A named dependency that must answer before this instance takes traffic (DESIGN.md §6). */
export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean>;
}

export abstract class Readiness {
  abstract checks(): ReadinessCheck[];
}

/**
 * How long one check may take. Checks run side by side, so /readyz answers within a second whatever
 * hangs (DESIGN.md §5); a load balancer's probe usually gives up after one or two.
 */
export const CHECK_DEADLINE_MS = 800;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, boolean>;
  /** Each failing check and why: it answered "not ready" (or threw), or it did not answer in time. */
  failing: Record<string, string>;
}

type Outcome = 'ok' | 'failed' | 'timeout';

/**
 * Runs the checks for /readyz, each under its own deadline. A check is single-flight: a probe that comes
 * while the check is still running from an earlier probe waits for that one instead of starting another,
 * so a dependency that hangs holds one ping or query, however often the load balancer asks.
 */
export class ReadinessProbe {
  private readonly inFlight = new Map<ReadinessCheck, Promise<boolean>>();

  constructor(private readonly deadlineMs = CHECK_DEADLINE_MS) {}

  async evaluate(checks: ReadinessCheck[]): Promise<ReadinessReport> {
    const outcomes = await Promise.all(checks.map(async (check) => [check.name, await this.outcome(check)] as const));
    const failing = outcomes.filter(([, outcome]) => outcome !== 'ok');
    return {
      ready: failing.length === 0,
      checks: Object.fromEntries(outcomes.map(([name, outcome]) => [name, outcome === 'ok'])),
      failing: Object.fromEntries(failing.map(([name, outcome]) => [name, outcome === 'timeout' ? `no answer within ${this.deadlineMs} ms` : 'not ready'])),
    };
  }

  private outcome(check: ReadinessCheck): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), this.deadlineMs);
      void this.shared(check).then((ok) => {
        clearTimeout(timer);
        resolve(ok ? 'ok' : 'failed');
      });
    });
  }

  /** The run of this check in flight, or a new one; never rejects. */
  private shared(check: ReadinessCheck): Promise<boolean> {
    const running = this.inFlight.get(check);
    if (running) return running;
    const run = Promise.resolve()
      .then(() => check.check())
      .then((ok) => ok === true, () => false)
      .finally(() => this.inFlight.delete(check));
    this.inFlight.set(check, run);
    return run;
  }
}
