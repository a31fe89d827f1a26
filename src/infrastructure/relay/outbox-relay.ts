import type { MikroORM } from '@mikro-orm/postgresql';
import { performance } from 'node:perf_hooks';
import { compareCursors, decodeCursor, type EventTransport, type PublishOutcome, type RelayedRecord } from '../../application';
import { OutboxReader, type RelayedPage } from './outbox-reader';
import { PublishStall } from './publish-stall';
import { partitionName, type RelayLead } from './relay-lead';
import { BackgroundLoop } from '../system/background-loop';
import { CAUGHT_UP_TIMEOUT_MS } from '../system/progress';

const CHECKPOINT_EVERY_MS = 1000;
/**
 * How often a led partition's head goes out on its tick channel at the least. DESIGN.md §3 asks for
 * once a second; ticking at half that, with the idle loop polling as often, keeps every gap between two
 * ticks under a second on a machine that runs a little late.
 */
const TICK_EVERY_MS = 500;
/**
 * How long a relay may fail to publish before it gives its partitions up. Three seconds is at least two
 * attempts past the 1 s Redis command deadline, so one slow command or one reconnect does not move the
 * lead; and it is shorter than the 5 s lease after which a frozen leader is replaced, so a relay cut off
 * from Redis makes way about as fast as a frozen one is pushed out.
 */
const STEP_DOWN_AFTER_MS = 3000;
/**
 * Bigger pages than other readers take: fewer round trips per event when draining a backlog. A page
 * of 4 MiB stored is about 12 MiB on the wire (a post is published on three channels), well within
 * Redis's default output buffer for a subscriber (32 MiB).
 */
const RELAY_PAGE = { rows: 2000, bytes: 4 * 1024 * 1024 };
const START = '0.0';

export interface OutboxRelayOptions {
  /** The number of partitions: a relay without leadership leads them all. */
  partitions: number;
  batchSize?: number;
  pollIntervalMs?: number;
  /** How often progress is saved while busy (1000 ms). */
  checkpointEveryMs?: number;
  /** How often an idle led partition gets a progress tick at the least (500 ms). */
  tickEveryMs?: number;
  /** How long publishes may fail before a relay gives its partitions up (3000 ms). */
  stepDownAfterMs?: number;
  onError: (error: unknown) => void;
  onPublished?: (records: RelayedRecord[]) => void;
  /**
   * Called with each page's rows that went out (never those a fence refused), before the next page: the
   * original channels for integrations (broadcast-channels.ts). It must not throw; a rejection is only
   * logged, and the rows stay published either way.
   */
  afterPublished?: (records: RelayedRecord[]) => Promise<void>;
  /**
   * The relay leadership, when relays in several processes share the partitions: only the partitions
   * it leads are read and published, each fenced by its epoch. Absent (embedded database, in-process
   * bus), this relay leads every partition.
   */
  lead?: RelayLead;
}

/** What this relay knows of one partition it leads, under one epoch. */
interface PartitionState {
  /** Undefined without a leadership. */
  epoch: number | undefined;
  /** A publish under this epoch went through: Redis holds our fence, and progress may be saved. */
  claimed: boolean;
  /** Every row of the partition up to here is published; null until read from `relay_checkpoints`. */
  checkpoint: string | null;
  saved: string | null;
  lastTickAt: number;
  /**
   * While only this partition's publishes fail (on a Redis Cluster, its master died or is cut off) the
   * others go on: this one is left out of the pages until then (`performance.now()`), with backoff.
   */
  retryAt: number;
  failures: number;
}

/** A partition whose publish failed while others went through is tried again after this, doubling up to the cap. */
const PARTITION_RETRY_MS = { first: 100, max: 2000 };

/**
 * Publishes the outbox, partition by partition, for the partitions this process leads (DESIGN.md §3).
 * One loop for all of them: it reads their rows in relay order (tx_id, id) from the lowest of their
 * checkpoints, skips each row at or before its own partition's checkpoint, and publishes each
 * partition's rows of the page, fenced by its epoch, followed by a progress tick; the partitions of a page
 * go out concurrently. A partition refused by its fence is dropped and read again from its saved
 * checkpoint by whoever leads it next; the others go on. Progress is saved per partition when idle and
 * at least every CHECKPOINT_EVERY_MS; after a crash the rows since are published again, which receivers
 * absorb by position (at-least-once, never lost).
 */
export class OutboxRelay {
  private readonly loop: BackgroundLoop;
  private readonly batchSize: number;
  private readonly states = new Map<number, PartitionState>();
  private lastSavedAt = 0;
  private readonly reader: OutboxReader;
  /** The last page was cut by a bound: the next one follows at once, without looking at the head first. */
  private draining = false;
  /** The next page, read while the one before it is being published: the two round trips overlap. */
  private prefetched: { key: string; page: Promise<RelayedPage> } | null = null;
  private readonly stall = new PublishStall();
  private waiters: { target: string; resolve: () => void }[] = [];
  /**
   * Where every led partition stood at the end of the last whole round, hooks (`afterPublished`)
   * included. A checkpoint moves before the round's hooks have run, so a caller asking mid-round must
   * not be told "caught up" from the checkpoints alone.
   */
  private roundReached: string | null = null;

  constructor(private readonly orm: MikroORM, private readonly transport: EventTransport, private readonly options: OutboxRelayOptions) {
    this.batchSize = options.batchSize ?? RELAY_PAGE.rows;
    this.reader = new OutboxReader(orm);
    const tickEveryMs = options.tickEveryMs ?? TICK_EVERY_MS;
    this.loop = new BackgroundLoop(() => this.relayBatch(), {
      name: 'outbox-relay',
      // Idle, the loop still runs often enough to tick every led partition in time.
      pollIntervalMs: Math.min(options.pollIntervalMs ?? 1000, tickEveryMs),
      onError: (error) => options.onError(error),
    });
    // A new lead publishes from the saved checkpoint: the one in memory may be ahead of what the
    // leader before us published, or behind it.
    options.lead?.whenGained((partition) => {
      this.states.delete(partition);
      this.prefetched = null;
      this.stall.clear();
      this.wake();
    });
    options.lead?.whenLost((partition) => {
      this.states.delete(partition);
      this.prefetched = null;
    });
    options.lead?.beforeRelease((partitions) => this.saveCheckpoints(partitions, { handingOver: true }));
  }

  start(): void {
    this.loop.start();
  }

  /** Something was committed: look now rather than at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /**
   * Resolves once everything committed before the call has been published for every partition this
   * relay leads, and it leads at least one (a relay that leads nothing never gets there).
   */
  async whenCaughtUp(timeoutMs = CAUGHT_UP_TIMEOUT_MS): Promise<void> {
    const target = await this.reader.head();
    this.wake();
    const now = this.reached();
    if (now !== null && this.roundReached !== null && compareCursors(target, minimum([now, this.roundReached])) <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        const at = this.reached();
        reject(new Error(`outbox relay did not reach ${target} within ${timeoutMs} ms (it is at ${at ?? 'nothing yet'}, leading partitions ${this.ledNow().size === 0 ? 'none' : [...this.ledNow().keys()].join(', ')})`));
      }, timeoutMs);
      const entry = {
        target,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(entry);
    });
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.saveCheckpoints([...this.states.keys()]).catch((error: unknown) => this.options.onError(error));
  }

  /** Publishes one page; true when more is waiting right away. */
  async relayBatch(): Promise<boolean> {
    const led = this.ledNow();
    if (led.size === 0) {
      // Leading nothing (or no lease confirmed): no attempt of ours is failing meanwhile.
      this.stall.clear();
      return false;
    }
    const states = new Map<number, PartitionState>();
    for (const [partition, epoch] of led) {
      let state = this.states.get(partition);
      if (!state || state.epoch !== epoch) {
        state = { epoch, claimed: false, checkpoint: null, saved: null, lastTickAt: 0, retryAt: 0, failures: 0 };
        this.states.set(partition, state);
      }
      states.set(partition, state);
    }
    await this.loadCheckpoints([...states].filter(([, state]) => state.checkpoint === null));
    // A partition waiting to be tried again is left out of this round altogether: its rows are not read
    // (the others' pages must not start at its checkpoint, which may be far behind), nor its checkpoint moved.
    const startedAt = performance.now();
    for (const [partition, state] of states) if (state.retryAt > startedAt) states.delete(partition);
    if (states.size === 0) return false;
    const from = minimum([...states.values()].map((state) => state.checkpoint!));
    const partitions = [...states.keys()].sort((a, b) => a - b);

    // The head is read before the page, and only when a tick is due: a page that is not cut then holds
    // every row of our partitions up to it, so the tick may say the head. Between ticks the page alone
    // says how far a partition is complete, and a post's way to Redis costs one round trip less.
    const tickEveryMs = this.options.tickEveryMs ?? TICK_EVERY_MS;
    const now = performance.now();
    const tickDue = (state: PartitionState) => !state.claimed || now - state.lastTickAt >= tickEveryMs;
    const head = this.draining || ![...states.values()].some(tickDue) ? null : await this.reader.head();
    const page: RelayedPage = head !== null && compareCursors(head, from) <= 0 ? { records: [], more: false } : await this.pageAfter(from, partitions);
    const { records, more } = page;
    this.draining = more;
    const last = records[records.length - 1]?.position ?? null;
    // More waits: read it while this page goes out.
    if (more) this.prefetch(last!, partitions);
    const reach = more ? last! : maximum([last ?? from, head ?? from]);

    const rows = new Map<number, RelayedRecord[]>();
    for (const record of records) {
      const state = states.get(record.partition);
      if (!state || compareCursors(record.position, state.checkpoint!) <= 0) continue;
      let group = rows.get(record.partition);
      if (!group) rows.set(record.partition, (group = []));
      group.push(record);
    }
    const sending = partitions.filter((partition) => rows.has(partition) || tickDue(states.get(partition)!));
    // A partition without rows in the page and no tick due has nothing unpublished up to `reach` either.
    for (const [partition, state] of states) {
      if (!sending.includes(partition) && compareCursors(reach, state.checkpoint!) > 0) state.checkpoint = reach;
    }

    // Ticks go on a cadence, not after every batch: a receiver hears a partition's ticks whatever the
    // traffic, so an event of a chat it does not follow costs it nothing, even in a partition it follows.
    const published = await this.publishAll(
      sending.map((partition) => {
        const state = states.get(partition)!;
        return { partition, state, records: rows.get(partition) ?? [], tick: tickDue(state) };
      }),
      reach,
    );
    if (published.length > 0) this.options.onPublished?.(published);

    const idle = rows.size === 0;
    if (idle || Date.now() - this.lastSavedAt >= (this.options.checkpointEveryMs ?? CHECKPOINT_EVERY_MS)) {
      await this.saveCheckpoints(partitions);
    }
    this.notifyWaiters();
    return more;
  }

  /** The partitions to publish now, each with its epoch (undefined without a leadership). */
  private ledNow(): Map<number, number | undefined> {
    if (this.options.lead) return new Map(this.options.lead.led());
    return new Map(Array.from({ length: this.options.partitions }, (_, partition) => [partition, undefined]));
  }

  /**
   * Each partition's rows, then its tick, in one fenced publish; the partitions concurrently. Answers
   * the rows that went out. When every partition failed (Redis away from this relay) it throws the
   * first failure once all have answered, so the loop backs off and, after long enough, the relay steps
   * down. When only some failed (on a Redis Cluster, the master of theirs is dead or cut off, for every
   * relay alike) the others keep their progress and pace, and the failed ones are tried again alone,
   * with backoff, until their master answers or the cluster fails it over.
   */
  private async publishAll(batches: { partition: number; state: PartitionState; records: RelayedRecord[]; tick: boolean }[], reach: string): Promise<RelayedRecord[]> {
    const lead = this.options.lead;
    const startedAt = performance.now();
    const outcomes = await Promise.allSettled(
      batches.map(async ({ partition, state, records, tick }): Promise<PublishOutcome | null> => {
        // The epoch is read again just before sending: reading the page may have taken long.
        if (lead && lead.epoch(partition) !== state.epoch) return null;
        // A tick never says less than the partition has published already (its checkpoint may be ahead
        // of a page read from another partition's): a receiver out of sync reads up to the tick, and
        // would not see a row it dropped past that before the chat's next row.
        return this.transport.publish(partition, records, { epoch: state.epoch, tick: tick ? maximum([reach, state.checkpoint!]) : undefined });
      }),
    );
    const published: RelayedRecord[] = [];
    let failure: { error: unknown } | null = null;
    let answered = 0;
    for (const [index, outcome] of outcomes.entries()) {
      const { partition, state, records, tick } = batches[index]!;
      if (outcome.status === 'rejected') {
        failure ??= { error: outcome.reason };
        state.failures++;
        state.retryAt = performance.now() + Math.min(PARTITION_RETRY_MS.max, PARTITION_RETRY_MS.first * 2 ** (state.failures - 1));
        continue;
      }
      answered++;
      state.failures = 0;
      state.retryAt = 0;
      if (outcome.value === null) continue;
      if (outcome.value.published) {
        // Released or replaced meanwhile: whoever leads it now starts from the saved checkpoint.
        if (this.states.get(partition) !== state) continue;
        state.claimed = true;
        if (tick) state.lastTickAt = performance.now();
        if (compareCursors(reach, state.checkpoint!) > 0) state.checkpoint = reach;
        published.push(...records);
        continue;
      }
      // Refused, so never retried under this epoch: a newer leader publishes from the saved checkpoint.
      this.states.delete(partition);
      this.prefetched = null;
      const fencedBy = outcome.value.fencedBy;
      void lead!.refused(partition, fencedBy).then((epoch) => epoch !== null && this.wake(), this.options.onError);
    }
    if (published.length > 0 && this.options.afterPublished) {
      await this.options.afterPublished(published).catch((error: unknown) => this.options.onError(error));
    }
    if (!failure || answered > 0) {
      // A partition answered, even if with a refusal: the transport works.
      this.stall.clear();
      if (failure) this.options.onError(failure.error);
      return published;
    }
    const failingMs = this.stall.failed(startedAt);
    if (lead && failingMs >= (this.options.stepDownAfterMs ?? STEP_DOWN_AFTER_MS)) await this.stepDown(lead, failingMs, failure.error);
    if (published.length > 0) this.options.onPublished?.(published);
    throw failure.error;
  }

  private pageAfter(after: string, partitions: number[]): Promise<RelayedPage> {
    const prefetched = this.prefetched;
    this.prefetched = null;
    if (prefetched?.key === pageKey(after, partitions)) return prefetched.page;
    return this.read(after, partitions);
  }

  private prefetch(after: string, partitions: number[]): void {
    const page = this.read(after, partitions);
    // A failed read ahead is only wasted: the page is read again when it is needed.
    page.catch(() => undefined);
    this.prefetched = { key: pageKey(after, partitions), page };
  }

  private read(after: string, partitions: number[]): Promise<RelayedPage> {
    return this.reader.page(after, { partitions, limits: { rows: this.batchSize, bytes: RELAY_PAGE.bytes } });
  }

  /**
   * Leadership follows progress: a relay that cannot publish (its link to Redis is down or carries
   * nothing) holds every receiver of its partitions back while a relay that can reach Redis waits. It
   * saves what it did publish, fenced as always, so that the next leaders repeat less, and frees them.
   */
  private async stepDown(lead: RelayLead, failingMs: number, error: unknown): Promise<void> {
    this.stall.clear();
    await this.saveCheckpoints([...this.states.keys()]).catch((saveError: unknown) => this.options.onError(saveError));
    this.states.clear();
    this.prefetched = null;
    await lead.stepDown(`no publish went through for ${Math.round(failingMs)} ms (last: ${(error as Error)?.message ?? String(error)})`);
  }

  /**
   * Progress is saved when the relay goes idle and at least every CHECKPOINT_EVERY_MS while busy, in one
   * statement for all partitions, without waiting for the disk: a lost checkpoint only makes a relay
   * publish some rows again. With a leadership, a partition's checkpoint is saved only while its row
   * still holds the epoch the progress was published under: a replaced relay never moves the new
   * leader's checkpoint. `for share` makes a concurrent epoch change wait for this save, or this save
   * see the change and write nothing for that partition. A partition being handed over is not reported
   * as refused (it is no longer led anyway).
   */
  private async saveCheckpoints(partitions: number[], { handingOver = false } = {}): Promise<void> {
    const due = partitions
      .map((partition) => ({ partition, state: this.states.get(partition) }))
      .filter((entry): entry is { partition: number; state: PartitionState } => {
        const state = entry.state;
        return state !== undefined && state.claimed && state.checkpoint !== null && state.checkpoint !== state.saved;
      })
      .map(({ partition, state }) => ({ partition, state, position: state.checkpoint!, cursor: decodeCursor(state.checkpoint!)! }));
    if (due.length === 0) {
      if (!handingOver) this.lastSavedAt = Date.now();
      return;
    }
    const lead = this.options.lead;
    const saved = await this.orm.em.fork().execute<{ name: string }[]>(
      `with relaxed as (select set_config('synchronous_commit', 'off', true)),
       want as (select * from unnest(?::text[], ?::text[], ?::text[], ?::bigint[]) as w(name, tx_id, outbox_id, epoch))
       insert into relay_checkpoints (name, tx_id, outbox_id)
       select w.name, w.tx_id::xid8, w.outbox_id::bigint from want w, relaxed
       where ${lead ? 'exists (select 1 from relay_leadership l where l.name = w.name and l.epoch = w.epoch for share)' : 'true'}
       on conflict (name) do update set tx_id = excluded.tx_id, outbox_id = excluded.outbox_id, updated_at = now()
       returning name`,
      [
        pgArray(due.map(({ partition }) => partitionName(partition))),
        pgArray(due.map(({ cursor }) => cursor.txId.toString())),
        pgArray(due.map(({ cursor }) => cursor.position.toString())),
        pgArray(due.map(({ state }) => String(state.epoch ?? 0))),
      ],
    );
    const names = new Set(saved.map((row) => row.name));
    for (const { partition, state, position } of due) {
      if (names.has(partitionName(partition))) {
        state.saved = position;
        continue;
      }
      if (this.states.get(partition) === state) this.states.delete(partition);
      if (!handingOver) void lead?.refused(partition).catch(this.options.onError);
    }
    if (!handingOver) this.lastSavedAt = Date.now();
  }

  /** One query for every partition just gained; a partition never saved starts at the beginning. */
  private async loadCheckpoints(entries: [number, PartitionState][]): Promise<void> {
    if (entries.length === 0) return;
    const rows = await this.orm.em
      .fork()
      .execute<{ name: string; tx_id: string; outbox_id: string }[]>(
        'select name, tx_id::text as tx_id, outbox_id::text as outbox_id from relay_checkpoints where name = any(?::text[])',
        [pgArray(entries.map(([partition]) => partitionName(partition)))],
      );
    const byName = new Map(rows.map((row) => [row.name, `${row.tx_id}.${row.outbox_id}`]));
    for (const [partition, state] of entries) {
      state.checkpoint = byName.get(partitionName(partition)) ?? START;
      state.saved = state.checkpoint;
    }
  }

  /** Where every led partition is published up to; null before anything is known of each. */
  private reached(): string | null {
    const led = this.ledNow();
    if (led.size === 0) return null;
    const positions: string[] = [];
    for (const [partition, epoch] of led) {
      const state = this.states.get(partition);
      if (!state || state.epoch !== epoch || !state.claimed || state.checkpoint === null) return null;
      positions.push(state.checkpoint);
    }
    return minimum(positions);
  }

  private notifyWaiters(): void {
    const at = this.reached();
    this.roundReached = at;
    if (at === null) return;
    const reached = this.waiters.filter((waiter) => compareCursors(waiter.target, at) <= 0);
    this.waiters = this.waiters.filter((waiter) => !reached.includes(waiter));
    for (const waiter of reached) waiter.resolve();
  }
}

function minimum(positions: string[]): string {
  return positions.reduce((low, position) => (compareCursors(position, low) < 0 ? position : low));
}

function maximum(positions: string[]): string {
  return positions.reduce((high, position) => (compareCursors(position, high) > 0 ? position : high));
}

function pageKey(after: string, partitions: number[]): string {
  return `${after}|${partitions.join(',')}`;
}

/** A PostgreSQL array literal of plain tokens (names, digits): no quoting needed. */
function pgArray(values: string[]): string {
  return `{${values.join(',')}}`;
}
