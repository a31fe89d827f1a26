/**
 * Runs `step` whenever woken, and every `pollIntervalMs` as a fallback, until it reports no more work.
 * Wake-ups while a step runs are remembered, never lost; failures back off and try again, never stop.
 */
export interface BackgroundLoopOptions {
  name: string;
  pollIntervalMs: number;
  maxBackoffMs?: number;
  onError: (error: unknown, name: string) => void;
}

export class BackgroundLoop {
  private woken = false;
  private running = false;
  private wakeWaiter: (() => void) | null = null;
  /** While set, a wake-up is remembered but does not cut the sleep short. */
  private backingOff = false;
  private loop: Promise<void> | null = null;
  private failures = 0;

  /** @param step does one batch of work; resolves true when there may be more right away, false when idle. */
  constructor(private readonly step: () => Promise<boolean>, private readonly options: BackgroundLoopOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.woken = true;
    this.loop = this.run();
  }

  wake(): void {
    this.woken = true;
    if (!this.backingOff) this.wakeWaiter?.();
  }

  /** Lets the step in progress finish, then stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeWaiter?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      // After a failure the backoff is slept even when woken: wake-ups keep coming while, say, Redis is
      // down, and each would start another attempt that fails the same way.
      if (this.failures > 0) {
        this.backingOff = true;
        await this.sleep(this.backoffMs());
        this.backingOff = false;
      } else if (!this.woken) {
        await this.sleep(this.options.pollIntervalMs);
      }
      if (!this.running) break;
      this.woken = false;
      try {
        while (this.running && (await this.step())) {
          // more work is waiting: keep going without sleeping
        }
        this.failures = 0;
      } catch (error) {
        this.failures++;
        this.options.onError(error, this.options.name);
      }
    }
  }

  private backoffMs(): number {
    return Math.min(this.options.maxBackoffMs ?? 5000, 50 * 2 ** Math.min(this.failures, 10));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wakeWaiter = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    }).then(() => {
      this.wakeWaiter = null;
    });
  }
}
