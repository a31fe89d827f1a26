import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { encodeCursor } from '../../application';
import type { ChatEvent } from '../../domain';
import { settled } from '../persistence/commit-order';
import { BackgroundLoop } from '../system/background-loop';
import { CAUGHT_UP_TIMEOUT_MS, Progress } from '../system/progress';
import type { Projection, StoredChatEvent } from './projection';

export interface ProjectionRunnerOptions {
  batchSize?: number;
  pollIntervalMs?: number;
  onError: (error: unknown) => void;
  onApplied?: (count: number) => void;
}

interface EventRow {
  tx_id: string;
  position: string;
  stream_id: string;
  version: number;
  type: ChatEvent['type'];
  data: unknown;
  occurred_at: Date;
}

/**
 * Catches a projection up with the event store. It reads the store itself (deliveries only wake it),
 * so it cannot skip an event; the projection's advisory lock makes competing runners in several
 * receivers take turns, and the read-model change commits with the checkpoint (DESIGN.md §4).
 */
export class ProjectionRunner {
  private readonly loop: BackgroundLoop;
  private readonly batchSize: number;
  private readonly progress: Progress;

  constructor(private readonly orm: MikroORM, readonly projection: Projection, options: ProjectionRunnerOptions) {
    this.batchSize = options.batchSize ?? 500;
    this.progress = new Progress(`projection ${projection.name}`);
    this.loop = new BackgroundLoop(async () => {
      const count = await this.applyBatch({ wait: false });
      if (count === 'busy') return 'soon';
      if (count > 0) options.onApplied?.(count);
      if (count === this.batchSize) return true;
      return count === 0 && (await this.eventsPending()) ? 'soon' : false;
    }, {
      name: `projection:${projection.name}`,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      onError: (error) => options.onError(error),
    });
  }

  start(): void {
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Resolves once every event committed before the call has been applied (by this runner or another). */
  async whenCaughtUp(timeoutMs = CAUGHT_UP_TIMEOUT_MS): Promise<void> {
    // The newest committed event, settled or not: the runner gets there once it is settled.
    const [row] = await this.orm.em.fork().execute<{ tx_id: string; position: string }[]>(
      'select tx_id::text as tx_id, position::text as position from events order by tx_id desc, position desc limit 1',
    );
    if (!row) return;
    this.wake();
    await this.progress.reached(encodeCursor(row.tx_id, row.position), timeoutMs);
  }

  /** Events after the checkpoint that wait behind a transaction still open. */
  private async eventsPending(): Promise<boolean> {
    const [row] = await this.orm.em.fork().execute<{ pending: boolean }[]>(
      `select exists(select 1 from events e, projection_checkpoints c
                     where c.name = ? and (e.tx_id, e.position) > (c.tx_id, c.position)) as pending`,
      [this.projection.name],
    );
    return row!.pending;
  }

  /**
   * Applies the next batch of events in one transaction; answers how many, or 'busy' when another
   * receiver holds the projection and `wait` is false. The projection's advisory lock makes runners
   * take turns without a row lock, which would give the transaction an id before it has anything to
   * write and hold back every reader that waits for open transactions.
   */
  async applyBatch(options: { wait: boolean } = { wait: true }): Promise<number | 'busy'> {
    let reached: string | null = null;
    const applied = await this.orm.em.fork().transactional(async (em) => {
      if (!(await this.lock(em, options.wait))) return 'busy' as const;
      const checkpoint = await this.checkpoint(em);
      const rows = await this.eventsAfter(em, checkpoint);
      const last = rows[rows.length - 1] ?? checkpoint;
      reached = encodeCursor(last.tx_id, last.position);
      if (rows.length === 0) return 0;
      await this.projection.apply(em, rows.map(toStoredEvent));
      await em.execute(
        `update projection_checkpoints set tx_id = ?::xid8, position = ?, updated_at = now() where name = ?`,
        [last.tx_id, last.position, this.projection.name],
      );
      return rows.length;
    });
    // Progress counts once the batch has committed.
    if (reached !== null) this.progress.advance(reached);
    return applied;
  }

  private async lock(em: EntityManager, wait: boolean): Promise<boolean> {
    const key = `projection:${this.projection.name}`;
    if (wait) {
      await em.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [key]);
      return true;
    }
    const [row] = await em.execute<{ locked: boolean }[]>('select pg_try_advisory_xact_lock(hashtextextended(?, 0)) as locked', [key]);
    return row!.locked;
  }

  private async checkpoint(em: EntityManager): Promise<{ tx_id: string; position: string }> {
    const read = () =>
      em.execute<{ tx_id: string; position: string }[]>(
        'select tx_id::text as tx_id, position::text as position from projection_checkpoints where name = ?',
        [this.projection.name],
      );
    const [existing] = await read();
    if (existing) return existing;
    await em.execute(
      `insert into projection_checkpoints (name, tx_id, position) values (?, '0'::xid8, 0) on conflict (name) do nothing`,
      [this.projection.name],
    );
    return (await read())[0]!;
  }

  /**
   * Empties the read model and replays every event into it in one transaction, holding the checkpoint
   * lock: safe while the service runs. Readers see the old values until it commits; other runners wait
   * and carry on from where it ended. Writers are not blocked, but the relay, which only reads below
   * every open transaction, waits for it: rebuild when a pause of that length in delivery is acceptable.
   */
  async rebuild(): Promise<number> {
    return this.orm.em.fork().transactional(async (em) => {
      await this.lock(em, true);
      await this.checkpoint(em);
      await this.projection.reset(em);
      let from = { tx_id: '0', position: '0' };
      let total = 0;
      for (;;) {
        const rows = await this.eventsAfter(em, from);
        if (rows.length === 0) break;
        await this.projection.apply(em, rows.map(toStoredEvent), { quiet: true });
        total += rows.length;
        from = rows[rows.length - 1]!;
      }
      await em.execute('update projection_checkpoints set tx_id = ?::xid8, position = ?, updated_at = now() where name = ?', [
        from.tx_id,
        from.position,
        this.projection.name,
      ]);
      await this.projection.afterRebuild?.(em);
      return total;
    });
  }

  private eventsAfter(em: EntityManager, from: { tx_id: string; position: string }): Promise<EventRow[]> {
    return em.execute<EventRow[]>(
      `select tx_id::text as tx_id, position::text as position, stream_id, version, type, data, occurred_at
       from events
       where ${settled('tx_id')} and (tx_id, position) > (?::xid8, ?::bigint)
       order by tx_id, position limit ?`,
      [from.tx_id, from.position, this.batchSize],
    );
  }
}

function toStoredEvent(row: EventRow): StoredChatEvent {
  return {
    chatId: row.stream_id,
    version: row.version,
    cursor: encodeCursor(row.tx_id, row.position),
    occurredAt: new Date(row.occurred_at).toISOString(),
    event: { type: row.type, data: row.data } as ChatEvent,
  };
}
