import type { MikroORM } from '@mikro-orm/postgresql';
import type { PostgresConnectionOptions } from '../persistence/postgres-connection';
import { BackgroundLoop } from '../system/background-loop';
import { asTheOnlyPruner, pruneOutbox, type PruneSummary } from './outbox-prune';

export interface OutboxPrunerOptions {
  retentionMs: number;
  /** How often a run starts (OUTBOX_PRUNE_INTERVAL_MS). */
  intervalMs: number;
  /** Undefined: the embedded database, whose single process prunes alone. */
  databaseUrl: string | undefined;
  connection: PostgresConnectionOptions;
  /**
   * Whether this process should prune now: relays prune only while they lead partition 0, so that
   * one relay of many does the work (the advisory lock keeps it to one at a time regardless).
   */
  shouldRun(): boolean;
  now?: () => Date;
  /** Between batches (10 ms): a backlog is deleted in small steps, leaving the database to writers. */
  pauseMs?: number;
  onPruned(summary: PruneSummary): void;
  onError(error: unknown): void;
}

/** The relay's background pruner (OUTBOX_RETENTION): a run of `pruneOutbox` every interval. */
export class OutboxPruner {
  private readonly loop: BackgroundLoop;
  private stopped = false;

  constructor(private readonly orm: MikroORM, private readonly options: OutboxPrunerOptions) {
    this.loop = new BackgroundLoop(() => this.run(), {
      name: 'outbox-pruner',
      pollIntervalMs: options.intervalMs,
      onError: (error) => options.onError(error),
    });
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop.stop();
  }

  /** One run (tests call it directly); never reports more work, so the loop sleeps an interval after it. */
  async run(): Promise<false> {
    if (!this.options.shouldRun()) return false;
    const summary = await asTheOnlyPruner(this.orm, this.options.databaseUrl, this.options.connection, (query) =>
      pruneOutbox(query, {
        retentionMs: this.options.retentionMs,
        now: (this.options.now ?? (() => new Date()))(),
        pauseMs: this.options.pauseMs ?? 10,
        stopping: () => this.stopped,
      }),
    );
    if (summary) this.options.onPruned(summary);
    return false;
  }
}
