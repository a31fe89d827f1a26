import type { MikroORM } from '@mikro-orm/postgresql';
import { performance } from 'node:perf_hooks';
import { decodeCursor, encodeCursor, type EventTransport, type PublishOutcome, type RelayedRecord } from '../../application';
import { OutboxReader, type RelayedPage } from './outbox-reader';
import { PublishStall } from './publish-stall';
import type { RelayLead } from './relay-lead';
import { BackgroundLoop } from '../system/background-loop';
import { CAUGHT_UP_TIMEOUT_MS, Progress } from '../system/progress';

const CHECKPOINT_EVERY_MS = 1000;
/**
 * How long a leader may fail to publish before it gives the lead up. Three seconds is at least two
 * attempts past the 1 s Redis command deadline, so one slow command or one reconnect does not move the
 * lead; and it is shorter than the 5 s lease after which a frozen leader is replaced, so a leader cut off
 * from Redis makes way about as fast as a frozen one is pushed out.
 */
const STEP_DOWN_AFTER_MS = 3000;
/**
 * Bigger pages than other readers take: fewer round trips per event when draining a backlog. A page
 * of 4 MiB stored is about 12 MiB on the wire (a post is published on three channels), well within
 * Redis's default output buffer for a subscriber (32 MiB).
 */
const RELAY_PAGE = { rows: 2000, bytes: 4 * 1024 * 1024 };

export interface OutboxRelayOptions {
  name?: string;
  batchSize?: number;
  pollIntervalMs?: number;
  /** How often progress is saved while busy (1000 ms). */
  checkpointEveryMs?: number;
  /** How long publishes may fail before a leader steps down (3000 ms). */
  stepDownAfterMs?: number;
  onError: (error: unknown) => void;
  onPublished?: (records: RelayedRecord[]) => void;
  partitions?: number;
  /**
   * The relay leadership, when relays in several processes take turns: nothing is read or published
   * while it gives no epoch, publishes and checkpoint saves are fenced by its epoch. Absent (embedded
   * database, in-process bus), this relay always publishes.
   */
  lead?: RelayLead;
}


/**
 * Publishes the outbox in the order OutboxReader reads it (DESIGN.md §3). Progress is saved when idle
 * and at least every CHECKPOINT_EVERY_MS; after a crash the rows since are published again, which
 * receivers absorb by position (at-least-once, never lost).
 */
export class OutboxRelay {
  private readonly loop: BackgroundLoop;
  private readonly name: string;
  private readonly batchSize: number;
  private checkpoint: { txId: string; outboxId: string } | null = null;
  private unsaved = false;
  private lastSavedAt = 0;
  /** The epoch the transport last accepted from us: the checkpoint in memory was published under it. */
  private claimedEpoch: number | null = null;
  private readonly reader: OutboxReader;
  private readonly progress: Progress;
  /** The next page, read while the one before it is being published: the two round trips overlap. */
  private prefetched: { after: string; page: Promise<RelayedPage> } | null = null;
  private readonly stall = new PublishStall();

  constructor(private readonly orm: MikroORM, private readonly transport: EventTransport, private readonly options: OutboxRelayOptions) {
    this.name = options.name ?? 'default';
    this.batchSize = options.batchSize ?? RELAY_PAGE.rows;
    this.reader = new OutboxReader(orm);
    this.progress = new Progress(`outbox relay ${this.name}`);
    this.loop = new BackgroundLoop(() => this.relayBatch(), {
      name: `outbox-relay:${this.name}`,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      onError: (error) => options.onError(error),
    });
    // A new lead publishes from the saved checkpoint: the one in memory may be ahead of what the
    // leader before us published, or behind it.
    options.lead?.whenGained(() => {
      this.forgetCheckpoint();
      this.stall.clear();
      this.wake();
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Something was committed: look now rather than at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /**
   * Resolves once everything committed before the call has been published by this relay. Only a
   * relay that may publish (the leader) gets there.
   */
  async whenCaughtUp(timeoutMs = CAUGHT_UP_TIMEOUT_MS): Promise<void> {
    const target = await this.reader.head();
    this.wake();
    await this.progress.reached(target, timeoutMs);
  }

  /** Leadership changed hands: read progress from the database again before publishing. */
  forgetCheckpoint(): void {
    this.prefetched = null;
    this.checkpoint = null;
    this.unsaved = false;
    this.claimedEpoch = null;
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.saveCheckpoint().catch((error: unknown) => this.options.onError(error));
  }

  /** Publishes one batch; true when something went out. */
  async relayBatch(): Promise<boolean> {
    if (this.options.lead && !(await this.claimLead())) return false;
    const from = this.checkpoint ?? (await this.loadCheckpoint());
    const position = encodeCursor(from.txId, from.outboxId);
    const { records, more } = await this.pageAfter(position);
    if (records.length === 0) {
      await this.tickIdle(position);
      this.progress.advance(position);
      await this.saveCheckpoint();
      return false;
    }
    // More waits: read it while this page goes out.
    if (more) this.prefetch(records[records.length - 1]!.position);
    if (!(await this.publishFenced(records))) return false;
    const last = decodeCursor(records[records.length - 1]!.position)!;
    this.checkpoint = { txId: last.txId.toString(), outboxId: last.position.toString() };
    this.unsaved = true;
    if (Date.now() - this.lastSavedAt >= (this.options.checkpointEveryMs ?? CHECKPOINT_EVERY_MS)) await this.saveCheckpoint();
    this.options.onPublished?.(records);
    this.progress.advance(records[records.length - 1]!.position);
    return true;
  }

  private pageAfter(position: string): Promise<RelayedPage> {
    const prefetched = this.prefetched;
    this.prefetched = null;
    if (prefetched?.after === position) return prefetched.page;
    return this.read(position);
  }

  private prefetch(after: string): void {
    const page = this.read(after);
    // A failed read ahead is only wasted: the page is read again when it is needed.
    page.catch(() => undefined);
    this.prefetched = { after, page };
  }

  private read(after: string): Promise<RelayedPage> {
    return this.reader.page(after, { limits: { rows: this.batchSize, bytes: RELAY_PAGE.bytes } });
  }

  /**
   * A new leader raises the fence in the transport before anything else: from then on a batch of its
   * predecessor's, even one sent before the takeover and arriving after it, is refused.
   */
  private async claimLead(): Promise<boolean> {
    const epoch = this.options.lead!.epoch();
    if (epoch === null) {
      // Not leading (or the lease is not confirmed): no attempt of ours is failing meanwhile.
      this.stall.clear();
      return false;
    }
    return epoch === this.claimedEpoch || (await this.publishFenced([]));
  }

  /** The epoch is read again just before sending: reading the batch may have taken long. */
  private async publishFenced(records: RelayedRecord[]): Promise<boolean> {
    const lead = this.options.lead;
    const epoch = lead ? lead.epoch() : undefined;
    if (epoch === null) return false;
    const startedAt = performance.now();
    let outcome: PublishOutcome;
    try {
      outcome = await this.publishByPartition(records, epoch);
    } catch (error) {
      const failingMs = this.stall.failed(startedAt);
      if (lead && failingMs >= (this.options.stepDownAfterMs ?? STEP_DOWN_AFTER_MS)) await this.stepDown(lead, failingMs, error);
      throw error;
    }
    // Even a refusal is an answer: the transport works.
    this.stall.clear();
    if (outcome.published) {
      this.claimedEpoch = epoch ?? null;
      return true;
    }
    // Refused, so never retried under this epoch: a newer leader publishes from the saved checkpoint.
    this.forgetCheckpoint();
    if ((await lead!.refused(outcome.fencedBy)) !== null) this.loop.wake();
    return false;
  }

  private lastIdleTick = 0;

  private async tickIdle(position: string): Promise<void> {
    if (Date.now() - this.lastIdleTick < 1000) return;
    const epoch = this.options.lead ? this.options.lead.epoch() : undefined;
    if (epoch === null) return;
    this.lastIdleTick = Date.now();
    for (let partition = 0; partition < (this.options.partitions ?? 16); partition++) {
      await this.transport.publish(partition, [], { epoch, tick: position });
    }
  }

  private async publishByPartition(records: RelayedRecord[], epoch: number | undefined): Promise<PublishOutcome> {
    const byPartition = new Map<number, RelayedRecord[]>();
    for (const record of records) {
      let list = byPartition.get(record.partition);
      if (!list) byPartition.set(record.partition, (list = []));
      list.push(record);
    }
    const tick = records.length > 0 ? records[records.length - 1]!.position : undefined;
    if (byPartition.size === 0) return this.transport.publish(0, [], { epoch });
    for (const [partition, rows] of byPartition) {
      const outcome = await this.transport.publish(partition, rows, { epoch, tick });
      if (!outcome.published) return outcome;
    }
    return { published: true };
  }

  /**
   * Leadership follows progress: a leader that cannot publish (its link to Redis is down or carries
   * nothing) holds every receiver back while a relay that can reach Redis waits. It saves what it did
   * publish, fenced as always, so that the next leader repeats less, and frees the lock.
   */
  private async stepDown(lead: RelayLead, failingMs: number, error: unknown): Promise<void> {
    this.stall.clear();
    await this.saveCheckpoint().catch((saveError: unknown) => this.options.onError(saveError));
    this.forgetCheckpoint();
    await lead.stepDown(`no publish went through for ${Math.round(failingMs)} ms (last: ${(error as Error)?.message ?? String(error)})`);
  }

  /**
   * Progress is saved when the relay goes idle and at least every CHECKPOINT_EVERY_MS while busy, without
   * waiting for the disk: a lost checkpoint only makes a restarted relay publish some rows again. With a
   * leadership, only while its row still holds the epoch the progress was published under, in one
   * statement: a replaced relay never moves the new leader's checkpoint. `for share` makes a concurrent
   * epoch change wait for this save, or this save see the change and write nothing.
   */
  private async saveCheckpoint(): Promise<void> {
    if (!this.unsaved || !this.checkpoint) return;
    const lead = this.options.lead;
    if (lead && this.claimedEpoch === null) return;
    const { txId, outboxId } = this.checkpoint;
    const saved = await this.orm.em.fork().execute<{ name: string }[]>(
      `with relaxed as (select set_config('synchronous_commit', 'off', true))
       insert into relay_checkpoints (name, tx_id, outbox_id) select ?, ?::xid8, ? from relaxed
       ${lead ? 'where exists (select 1 from relay_leadership where name = ? and epoch = ? for share)' : ''}
       on conflict (name) do update set tx_id = excluded.tx_id, outbox_id = excluded.outbox_id, updated_at = now()
       returning name`,
      [this.name, txId, outboxId, ...(lead ? [lead.name, this.claimedEpoch] : [])],
    );
    if (lead && saved.length === 0) {
      this.forgetCheckpoint();
      await lead.refused();
      return;
    }
    this.unsaved = false;
    this.lastSavedAt = Date.now();
  }

  private async loadCheckpoint(): Promise<{ txId: string; outboxId: string }> {
    const [row] = await this.orm.em
      .fork()
      .execute<{ tx_id: string; outbox_id: string }[]>(
        'select tx_id::text as tx_id, outbox_id::text as outbox_id from relay_checkpoints where name = ?',
        [this.name],
      );
    this.checkpoint = row ? { txId: row.tx_id, outboxId: row.outbox_id } : { txId: '0', outboxId: '0' };
    return this.checkpoint;
  }
}
