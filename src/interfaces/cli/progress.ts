import { SingleBar } from 'cli-progress';

/**
 * Progress of a long operator command (outbox replay, projections rebuild, migrate, outbox prune):
 * a bar with the rate and the time left when its stream is a terminal, and a plain line every
 * `intervalMs` otherwise (a log file or a pipe gets no cursor movements, and a line it can keep).
 *
 * Operations report counts through a callback (`progress.report`), never print: this is the one place
 * that knows about terminals. Usage:
 *
 *     const progress = startProgress({ label: 'outbox prune', unit: 'rows' });
 *     try { await prune({ onProgress: progress.report }); } finally { progress.finish(); }
 */
export interface ProgressOptions {
  /** What is running, first on every line (e.g. "outbox replay"). */
  label: string;
  /** What is counted (rows, events, migrations). */
  unit?: string;
  /** How many there are, when known before the first report; a report may also bring it. */
  total?: number;
  /** Where progress goes (stderr, so that stdout keeps the command's answer alone). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Without a terminal: how often a line is printed (5000 ms). */
  intervalMs?: number;
  /** The clock, in ms (Date.now); tests give their own. */
  now?: () => number;
}

export interface Progress {
  /** `done` so far, and the total when known (it may arrive with a later report, or grow). */
  update(done: number, total?: number): void;
  /** `update` as a callback for an operation's `onProgress(done, total)`. */
  readonly report: (done: number, total?: number) => void;
  /** Ends the bar where it stands, or, when lines were printed, prints a last one with the outcome. */
  finish(): void;
}

export const DEFAULT_PROGRESS_INTERVAL_MS = 5000;

export function startProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const figures = new Figures(options.now ?? Date.now, options.total);
  return stream.isTTY === true ? new ProgressBar(options, stream, figures) : new ProgressLines(options, stream, figures);
}

/** Counts, rate and time left, from the start of the run: an even rate over a run is what an ETA needs. */
class Figures {
  done = 0;
  private readonly startedAt: number;

  constructor(private readonly now: () => number, public total: number | undefined) {
    this.startedAt = now();
  }

  record(done: number, total: number | undefined): void {
    this.done = done;
    if (total !== undefined) this.total = total;
  }

  elapsedMs(): number {
    return Math.max(0, this.now() - this.startedAt);
  }

  /** Per second; 0 until a first count over measurable time. */
  rate(): number {
    const seconds = this.elapsedMs() / 1000;
    return seconds > 0 ? this.done / seconds : 0;
  }

  /** Time left in ms, null when unknown (no total, or no rate yet). */
  remainingMs(): number | null {
    if (this.total === undefined) return null;
    if (this.done >= this.total) return 0;
    const rate = this.rate();
    return rate > 0 ? ((this.total - this.done) / rate) * 1000 : null;
  }
}

class ProgressBar implements Progress {
  private readonly bar: SingleBar;
  private started = false;
  readonly report = (done: number, total?: number) => this.update(done, total);

  constructor(private readonly options: ProgressOptions, stream: NodeJS.WritableStream, private readonly figures: Figures) {
    const unit = options.unit ? ` ${options.unit}` : '';
    this.bar = new SingleBar({
      stream,
      format: (barOptions, params, payload: { rate: string; remaining: string; known: boolean }) => {
        const counts = payload.known ? `${params.value}/${params.total}${unit}` : `${params.value}${unit}`;
        const bar = payload.known ? ` [${barOf(params.progress, barOptions.barsize ?? 30)}] ${Math.floor(params.progress * 100)}%` : '';
        return `${options.label}${bar} | ${counts} | ${payload.rate}/s | ETA ${payload.remaining}`;
      },
      barsize: 30,
      hideCursor: null,
      linewrap: null,
      // No handlers of its own: cli-progress's would catch SIGINT and SIGTERM, and Node would then no
      // longer exit on them, so Ctrl-C would only stop the drawing while the command went on. The
      // cursor is never hidden, so an exit in the middle leaves the terminal as it was.
      gracefulExit: false,
    });
  }

  update(done: number, total?: number): void {
    this.figures.record(done, total);
    const payload = this.payload();
    if (!this.started) {
      this.started = true;
      this.bar.start(this.figures.total ?? 0, done, payload);
      return;
    }
    if (total !== undefined) this.bar.setTotal(total);
    this.bar.update(done, payload);
  }

  finish(): void {
    if (!this.started) return;
    this.bar.update(this.figures.done, this.payload());
    this.bar.stop();
  }

  private payload() {
    return { rate: formatRate(this.figures.rate()), remaining: formatElapsed(this.figures.remainingMs()), known: this.figures.total !== undefined };
  }
}

class ProgressLines implements Progress {
  private readonly timer: NodeJS.Timeout;
  private printed = false;
  private finished = false;
  readonly report = (done: number, total?: number) => this.update(done, total);

  constructor(private readonly options: ProgressOptions, private readonly stream: NodeJS.WritableStream, private readonly figures: Figures) {
    this.timer = setInterval(() => this.print(), options.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS);
    // Progress never keeps a finished command alive.
    this.timer.unref();
  }

  update(done: number, total?: number): void {
    this.figures.record(done, total);
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    // A run short enough to print nothing stays silent: its answer says it all.
    if (!this.printed) return;
    const { label, unit } = this.options;
    this.stream.write(`${label}: finished ${this.figures.done}${unit ? ` ${unit}` : ''} in ${formatElapsed(this.figures.elapsedMs())} (${formatRate(this.figures.rate())}/s)\n`);
  }

  private print(): void {
    this.printed = true;
    const { label, unit } = this.options;
    const { done, total } = this.figures;
    const counts = total === undefined ? `${done}` : `${done}/${total} (${total > 0 ? Math.floor((done / total) * 100) : 100}%)`;
    this.stream.write(`${label}: ${counts}${unit ? ` ${unit}` : ''}, ${formatRate(this.figures.rate())}/s, ETA ${formatElapsed(this.figures.remainingMs())}\n`);
  }
}

function barOf(progress: number, size: number): string {
  const complete = Math.round(Math.min(1, Math.max(0, progress)) * size);
  return '█'.repeat(complete) + '░'.repeat(size - complete);
}

function formatRate(perSecond: number): string {
  return perSecond >= 10 ? String(Math.round(perSecond)) : perSecond.toFixed(1);
}

/** "unknown", "42s", "3m 04s", "2h 05m". */
export function formatElapsed(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return 'unknown';
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}
