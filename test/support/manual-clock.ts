import { Clock } from '../../src/application';

/** The real time plus whatever the test has made pass, or a time the test has stopped at. */
export class ManualClock extends Clock {
  private offsetMs = 0;
  private stoppedAt: number | null = null;

  now(): Date {
    return new Date(this.stoppedAt ?? Date.now() + this.offsetMs);
  }

  advance(ms: number): void {
    if (this.stoppedAt !== null) this.stoppedAt += ms;
    else this.offsetMs += ms;
  }

  /** Time stands still until `resume`: nothing that waits for it to pass (a lapse) can happen. */
  stop(): void {
    this.stoppedAt = this.now().getTime();
  }

  resume(): void {
    if (this.stoppedAt === null) return;
    this.offsetMs = this.stoppedAt - Date.now();
    this.stoppedAt = null;
  }
}
