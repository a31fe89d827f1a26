import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { partitionName, type RelayLead } from './relay-lead';

/**
 * Advisory lock keys: one per partition (`PARTITION_LOCK_BASE + p`, p < 1024), and one that every relay
 * willing to lead holds in shared mode, so that one look at `pg_locks` shows the relays that share the
 * partitions. Apart from the key of the single-leader design (7_071_020_511), so that a relay of that
 * design never blocks these.
 */
const MEMBER_LOCK_KEY = 7_071_020_512;
export const PARTITION_LOCK_BASE = 7_071_020_513;
const MAX_PARTITIONS = 1024;
const LIVENESS_TIMEOUT_MS = 3000;
const DEFAULT_LEASE_MS = 5000;
/** How long a relay waits for a terminated leader's backend to exit, freeing its locks. */
const TERMINATE_WAIT_MS = 1000;

export interface RelayLeadershipOptions {
  databaseUrl: string;
  /** The number of partitions when `relay_settings` holds none yet (RELAY_PARTITIONS); the database's number wins. */
  partitions: number;
  /** How often a relay looks at who leads what, takes or releases partitions, and heartbeats (1 s). */
  retryIntervalMs?: number;
  /** A leader whose heartbeat another relay has not seen move for this long is replaced (5 s). */
  leaseMs?: number;
  /** Who we are, for whoever reads `relay_leadership` (host:pid). */
  holder?: string;
  /** For logs; the relay learns of a new lead through `whenGained`. */
  onGained?(partition: number, epoch: number): void;
  onLost?(partition: number): void;
  /** How many partitions we lead now changed (for the metric). */
  onLedChanged?(count: number): void;
  /** We ended the session of a leader whose heartbeat had stopped, so that its partitions can be led. */
  onEndedFrozenLeader?(leader: { holder: string; epoch: number; partition: number }): void;
  /**
   * Whether this relay's transport answers now (a ping within its deadline). A relay shares the
   * partitions, or replaces a frozen leader, only while it does: the lead goes to relays that can
   * publish. Absent, the transport is taken to answer.
   */
  transportAnswers?(): Promise<boolean>;
  /** We gave every partition up because we could not publish (see `stepDown`). */
  onSteppedDown?(reason: string): void;
  /** The transport stopped (true) or started again (false) answering: meanwhile we do not lead. */
  onStandingAside?(aside: boolean): void;
  onError(error: unknown): void;
  /** Tests only: while true this instance's timer does nothing, as if its process were stopped. */
  frozen?(): boolean;
}

/** A row or a session as this relay last saw it, and when (monotonic) it first saw it so. */
interface Sighting {
  seen: string;
  since: number;
}

interface Led {
  epoch: number;
  /** When (monotonic) the last heartbeat or acquire that confirmed this partition was sent. */
  confirmedAt: number;
}

interface Survey {
  me: number;
  partitions: number;
  locks: { pid: number; key: number; query_start: string | null }[];
  rows: { name: string; epoch: string; beat: string; pid: number; holder: string }[];
}

/**
 * Who holds which advisory lock of ours (the member lock and the partition locks), with each holder's
 * last statement start (to tell a relay that acts from one that is frozen), and every partition's row.
 * PostgreSQL keys a one-bigint advisory lock as (classid = high 32 bits, objid = low 32 bits,
 * objsubid = 1) in the current database.
 */
const SURVEY = `
  select pg_backend_pid() as me,
    coalesce((select partitions from relay_settings), $3::int) as partitions,
    coalesce((
      select json_agg(json_build_object('pid', l.pid, 'key', k.key, 'query_start', a.query_start::text))
      from pg_locks l
      cross join lateral (select (l.classid::bigint << 32) | l.objid::bigint as key) k
      left join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.objsubid = 1
        and l.database = (select oid from pg_database where datname = current_database())
        and k.key between $1::bigint and $2::bigint
    ), '[]') as locks,
    coalesce((
      select json_agg(json_build_object('name', name, 'epoch', epoch::text, 'beat', beat::text, 'pid', backend_pid, 'holder', holder))
      from relay_leadership where name like 'partition:%'
    ), '[]') as rows`;

/**
 * Each lock is taken and its partition's epoch advanced in one statement, so whoever holds a lock has
 * written its row (and its backend pid) by the time anyone can see the row. A row naming another
 * backend than the lock's holder is a takeover in progress, never a frozen leader.
 */
const ACQUIRE = `
  with attempt as materialized (
    select p, pg_try_advisory_lock($1::bigint + p) as acquired from unnest($2::int[]) as p
  ),
  lead as (
    insert into relay_leadership as l (name, epoch, holder, backend_pid, beat, heartbeat_at)
    select 'partition:' || p, 1, $3, pg_backend_pid(), 0, now() from attempt where acquired
    on conflict (name) do update
      set epoch = l.epoch + 1, holder = excluded.holder, backend_pid = excluded.backend_pid, beat = l.beat + 1,
          heartbeat_at = excluded.heartbeat_at
    returning name, epoch
  )
  select name, epoch::text as epoch from lead`;

/** Every led partition in one statement; a partition missing from the answer is no longer ours. */
const HEARTBEAT = `
  update relay_leadership r set beat = r.beat + 1, heartbeat_at = now()
  from unnest($1::text[], $2::bigint[]) as m(name, epoch)
  where r.name = m.name and r.epoch = m.epoch and r.backend_pid = pg_backend_pid()
  returning r.name, r.epoch::text as epoch`;

/** One partition, after a refusal: `$3` above our epoch makes us lead on with an epoch above it. */
const HEARTBEAT_ABOVE = `
  update relay_leadership set beat = beat + 1, heartbeat_at = now(),
    epoch = case when $3::bigint > epoch then $3::bigint + 1 else epoch end
  where name = $1 and epoch = $2 and backend_pid = pg_backend_pid()
  returning epoch::text as epoch`;

const RELEASE = 'select pg_advisory_unlock($1::bigint + p) from unnest($2::int[]) as p';

/**
 * Terminates a partition lock's holder, only if the partition's row is still exactly as this relay saw
 * it a lease ago and names that very backend. Ending the backend frees every lock of that process: all
 * its partitions and its membership. The wait lets the locks be free when this answers.
 */
const TERMINATE_FROZEN = `
  select r.holder, pg_terminate_backend(l.pid, $5::bigint) as terminated
  from relay_leadership r
  join pg_locks l on l.pid = r.backend_pid
  where r.name = $2 and r.epoch::text || '/' || r.beat::text = $3 and r.backend_pid = $4
    and l.locktype = 'advisory' and l.granted and l.objsubid = 1
    and l.database = (select oid from pg_database where datname = current_database())
    and l.classid = (($1::bigint >> 32) & 4294967295)::oid
    and l.objid = ($1::bigint & 4294967295)::oid`;

/**
 * Relay leadership per ordering partition (DESIGN.md §3), by PostgreSQL advisory locks with a lease and
 * a fencing epoch per partition (docs/architecture.md, Leadership).
 *
 * One session per relay process holds all its locks (16 partitions × a few relays would otherwise
 * exhaust max_connections): when the process dies, PostgreSQL frees them all. Giving one partition up
 * is `pg_advisory_unlock` of its key, not the end of the session. Every `retryIntervalMs` a relay
 * heartbeats all the partitions it leads in one statement, then looks once at `pg_locks`:
 *
 * - The relays willing to lead (their transport answers, they have not just stepped down) hold a shared
 *   "member" lock. Sorted by backend pid they get ranks 0…n−1, and partition p prefers the relay of rank
 *   p mod n: an even share that every relay computes alike from the same look.
 * - A relay releases a partition it leads whose preferred relay is another member (a relay joined, or
 *   this one stopped answering), after saving its progress (`beforeRelease`); the preferred relay takes it
 *   at its next look.
 * - A partition nobody holds is taken by its preferred relay at once, and by any member once it has seen
 *   it unheld for two intervals (its preferred relay does not take it). A relay that dies drops out of the
 *   members with its session, so the others' preferences cover its partitions at their next look.
 * - A process that is alive but frozen (SIGSTOP, a long pause) keeps its session: a partition's row whose
 *   heartbeat has not moved for `leaseMs` by this relay's own monotonic clock (no wall clock is read, so
 *   clock steps do not matter) gets its holder's backend terminated, which frees all its partitions. A
 *   member that has run no statement for a lease is left out of the ranks meanwhile, so that partitions
 *   are not handed to it.
 *
 * A new leader raises the partition's epoch, which fences what a replaced leader may still try: Redis
 * refuses its publishes, PostgreSQL its checkpoint saves.
 */
export class RelayLeadership implements RelayLead {
  private client: Client | null = null;
  private member = false;
  private readonly leading = new Map<number, Led>();
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  /** Heartbeats, looks, takes and releases run one at a time on the session, each seeing the last one's epochs. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly rowSightings = new Map<number, Sighting>();
  private readonly memberSightings = new Map<number, Sighting>();
  private readonly unheldSince = new Map<number, number>();
  private partitionCount: number;
  private standingAside = false;
  /** After stepping down, no partition is taken before this (monotonic): the other relays take them first. */
  private holdOffUntil = 0;
  private readonly retryIntervalMs: number;
  private readonly leaseMs: number;
  private readonly holder: string;
  private readonly gainedListeners: ((partition: number) => void)[] = [];
  private readonly lostListeners: ((partition: number) => void)[] = [];
  private releaseHandler: ((partitions: number[]) => Promise<void>) | null = null;

  constructor(private readonly options: RelayLeadershipOptions) {
    this.retryIntervalMs = options.retryIntervalMs ?? 1000;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.holder = options.holder ?? `${hostname()}:${process.pid}`;
    this.partitionCount = options.partitions;
  }

  /** True while this instance leads at least one partition. */
  get isLeader(): boolean {
    return this.leading.size > 0;
  }

  /** The partitions led now, fresh lease or not (for logs and tests). */
  get partitions(): number[] {
    return [...this.leading.keys()].sort((a, b) => a - b);
  }

  led(): ReadonlyMap<number, number> {
    const led = new Map<number, number>();
    for (const partition of this.leading.keys()) {
      const epoch = this.epoch(partition);
      if (epoch !== null) led.set(partition, epoch);
    }
    return led;
  }

  /**
   * Another relay takes a partition over only after seeing our last heartbeat unchanged for `leaseMs`,
   * from a moment after that heartbeat committed, so no earlier than `leaseMs` after we sent it. We stop
   * publishing sooner, at 80 % of the lease after sending, until a heartbeat confirms us again: a leader
   * whose timers ran late does not publish on an expired lease. (The margin covers the way from this
   * check to Redis; Redis fences whatever comes later.)
   */
  epoch(partition: number): number | null {
    const led = this.leading.get(partition);
    if (!led) return null;
    return performance.now() - led.confirmedAt < this.leaseMs * 0.8 ? led.epoch : null;
  }

  whenGained(listener: (partition: number) => void): void {
    this.gainedListeners.push(listener);
  }

  whenLost(listener: (partition: number) => void): void {
    this.lostListeners.push(listener);
  }

  beforeRelease(handler: (partitions: number[]) => Promise<void>): void {
    this.releaseHandler = handler;
  }

  start(): void {
    void this.attempt();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    // Whatever round is under way ends first; ending the session then frees every lock at once.
    await this.queue;
    this.demoteAll();
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  refused(partition: number, fencedBy = 0): Promise<number | null> {
    return this.serially(async () => {
      const led = this.leading.get(partition);
      if (!led || !this.client) return null;
      const sentAt = performance.now();
      try {
        const { rows } = await this.client.query<{ epoch: string }>(HEARTBEAT_ABOVE, [partitionName(partition), led.epoch, fencedBy]);
        if (rows.length === 0) {
          await this.release(this.client, [partition], false);
          return null;
        }
        const epoch = Number(rows[0]!.epoch);
        if (epoch !== led.epoch) {
          // Only a relay holding the lock writes epochs, and PostgreSQL still says that is us: the newer
          // epoch in Redis is a leftover (a database recreated or restored under a Redis that kept its key).
          this.options.onError(new Error(`the transport held fencing epoch ${fencedBy} for partition ${partition}, above this leader's ${led.epoch}: leading on as ${epoch}`));
        }
        this.leading.set(partition, { epoch, confirmedAt: sentAt });
        return epoch;
      } catch (error) {
        this.options.onError(error);
        this.dropSession();
        return null;
      }
    });
  }

  /**
   * Gives every partition up: unlocking frees them at once, and the rows keep our epochs, so the next
   * leaders raise them and fence whatever we still have on its way, as after any change of leader. We
   * take partitions again only once our transport answers (see `attempt`).
   */
  stepDown(reason: string): Promise<void> {
    return this.serially(async () => {
      if (this.leading.size === 0) return;
      this.options.onSteppedDown?.(reason);
      // Our ping may pass where our publishes failed (a link that carries small commands only): every
      // other relay gets a try at the free partitions before we may take them back.
      this.holdOffUntil = performance.now() + 2 * this.retryIntervalMs;
      if (!this.client) return this.demoteAll();
      try {
        await this.release(this.client, [...this.leading.keys()], false);
        await this.setMember(this.client, false);
      } catch (error) {
        this.options.onError(error);
        this.dropSession();
      }
    });
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    if (!this.options.frozen?.()) {
      const willing = await this.mayLead();
      await this.serially(async () => {
        if (this.stopped) return;
        try {
          const client = this.client ?? (await this.connect());
          if (this.leading.size > 0) await this.heartbeat(client);
          await this.setMember(client, willing);
          await this.share(client, willing);
        } catch (error) {
          this.options.onError(error);
          this.dropSession();
        }
      });
    }
    this.schedule();
  }

  private async mayLead(): Promise<boolean> {
    return performance.now() >= this.holdOffUntil && (await this.transportAnswers());
  }

  private async transportAnswers(): Promise<boolean> {
    if (!this.options.transportAnswers) return true;
    const answers = await this.options.transportAnswers().catch(() => false);
    if (answers === this.standingAside) {
      this.standingAside = !answers;
      this.options.onStandingAside?.(this.standingAside);
    }
    return answers;
  }

  private async setMember(client: Client, willing: boolean): Promise<void> {
    if (willing === this.member) return;
    await client.query(willing ? 'select pg_advisory_lock_shared($1::bigint)' : 'select pg_advisory_unlock_shared($1::bigint)', [MEMBER_LOCK_KEY]);
    this.member = willing;
  }

  /** One look at who holds what, then the releases, terminations and takes it calls for (see the class comment). */
  private async share(client: Client, willing: boolean): Promise<void> {
    const survey = await this.survey(client);
    const now = performance.now();
    const holders = new Map<number, number>();
    const memberPids = new Set<number>();
    const queryStarts = new Map<number, string | null>();
    for (const lock of survey.locks) {
      queryStarts.set(lock.pid, lock.query_start);
      if (lock.key === MEMBER_LOCK_KEY) memberPids.add(lock.pid);
      else holders.set(lock.key - PARTITION_LOCK_BASE, lock.pid);
    }
    const members = [...memberPids].filter((pid) =>
      pid === survey.me ? willing : !this.stale(this.memberSightings, pid, queryStarts.get(pid) ?? null, now));
    for (const pid of this.memberSightings.keys()) if (!memberPids.has(pid)) this.memberSightings.delete(pid);

    // Frozen holders: ending one backend frees all its partitions (and its membership).
    const ended = new Set<number>();
    const rows = new Map(survey.rows.map((row) => [Number(row.name.slice('partition:'.length)), row]));
    for (const [partition, pid] of holders) {
      const row = rows.get(partition);
      if (pid === survey.me || !row || row.pid !== pid) {
        this.rowSightings.delete(partition);
        continue;
      }
      const seen = `${row.epoch}/${row.beat}`;
      if (!this.stale(this.rowSightings, partition, seen, now) || !willing || ended.has(pid)) continue;
      const { rows: terminated } = await client.query<{ holder: string; terminated: boolean }>(TERMINATE_FROZEN, [
        PARTITION_LOCK_BASE + partition,
        row.name,
        seen,
        pid,
        TERMINATE_WAIT_MS,
      ]);
      const frozen = terminated.find((leader) => leader.terminated);
      if (!frozen) continue;
      ended.add(pid);
      this.options.onEndedFrozenLeader?.({ holder: frozen.holder, epoch: Number(row.epoch), partition });
    }
    for (const [partition, pid] of holders) if (ended.has(pid)) holders.delete(partition);
    const ranked = members.filter((pid) => !ended.has(pid)).sort((a, b) => a - b);
    const preferred = (partition: number) => (ranked.length > 0 ? ranked[partition % ranked.length] : undefined);

    const release = [...this.leading.keys()].filter((partition) => {
      const relay = preferred(partition);
      return relay !== undefined && relay !== survey.me;
    });
    if (release.length > 0) await this.release(client, release, true);

    const take: number[] = [];
    for (let partition = 0; partition < this.partitionCount; partition++) {
      if (holders.has(partition)) {
        this.unheldSince.delete(partition);
        continue;
      }
      if (!this.unheldSince.has(partition)) this.unheldSince.set(partition, now);
      if (!willing || this.leading.has(partition) || release.includes(partition)) continue;
      if (preferred(partition) === survey.me || now - this.unheldSince.get(partition)! >= 2 * this.retryIntervalMs) take.push(partition);
    }
    if (take.length > 0) await this.acquire(client, take);
  }

  /**
   * True once `seen` (a row's epoch and beat, a session's last statement start) has stayed the same for
   * a lease on this relay's clock. Null (a session whose activity we may not see) never goes stale.
   */
  private stale<K>(sightings: Map<K, Sighting>, key: K, seen: string | null, now: number): boolean {
    if (seen === null) return false;
    const last = sightings.get(key);
    if (!last || last.seen !== seen) {
      sightings.set(key, { seen, since: now });
      return false;
    }
    return now - last.since >= this.leaseMs;
  }

  private async survey(client: Client): Promise<Survey> {
    const { rows } = await client.query<Survey>(SURVEY, [MEMBER_LOCK_KEY, PARTITION_LOCK_BASE + MAX_PARTITIONS - 1, this.options.partitions]);
    const survey = rows[0]!;
    // The number may only grow (partition-count.ts): a relay started before it grew leads the new ones too.
    this.partitionCount = Math.min(MAX_PARTITIONS, Math.max(this.partitionCount, survey.partitions));
    return { ...survey, locks: survey.locks.map((lock) => ({ ...lock, key: Number(lock.key) })) };
  }

  private async acquire(client: Client, partitions: number[]): Promise<void> {
    const sentAt = performance.now();
    const { rows } = await client.query<{ name: string; epoch: string }>(ACQUIRE, [PARTITION_LOCK_BASE, partitions, this.holder]);
    if (this.stopped) return;
    for (const row of rows) {
      const partition = Number(row.name.slice('partition:'.length));
      const epoch = Number(row.epoch);
      this.rowSightings.delete(partition);
      this.leading.set(partition, { epoch, confirmedAt: sentAt });
      this.options.onGained?.(partition, epoch);
      for (const listener of this.gainedListeners) listener(partition);
    }
    if (rows.length > 0) this.options.onLedChanged?.(this.leading.size);
  }

  /** Lost partitions are unlocked too: we may still hold the lock of a row someone else changed. */
  private async heartbeat(client: Client): Promise<void> {
    const sentAt = performance.now();
    const partitions = [...this.leading.keys()];
    const { rows } = await client.query<{ name: string; epoch: string }>(HEARTBEAT, [
      partitions.map(partitionName),
      partitions.map((partition) => this.leading.get(partition)!.epoch),
    ]);
    const confirmed = new Set<number>();
    for (const row of rows) {
      const partition = Number(row.name.slice('partition:'.length));
      confirmed.add(partition);
      if (this.leading.has(partition)) this.leading.set(partition, { epoch: Number(row.epoch), confirmedAt: sentAt });
    }
    const lost = partitions.filter((partition) => !confirmed.has(partition) && this.leading.has(partition));
    if (lost.length > 0) {
      this.options.onError(new Error(`the lead of partitions ${lost.join(', ')} was taken over: their epochs are no longer current`));
      await this.release(client, lost, false);
    }
  }

  /**
   * No longer led from here on (nothing more is published under them), then saved when `save` (a hand
   * over), then unlocked: the next leader finds the progress we made.
   */
  private async release(client: Client, partitions: number[], save: boolean): Promise<void> {
    for (const partition of partitions) this.leading.delete(partition);
    if (save && this.releaseHandler) await this.releaseHandler(partitions).catch((error: unknown) => this.options.onError(error));
    this.lost(partitions);
    await client.query(RELEASE, [PARTITION_LOCK_BASE, partitions]);
  }

  private async connect(): Promise<Client> {
    // A query that hangs (a half-open connection) must end the lead, not keep it: hence the timeout;
    // a connect that hangs (a silent route) must not stop every later try: hence its bound.
    const client = new Client({
      connectionString: this.options.databaseUrl,
      keepAlive: true,
      keepAliveInitialDelayMillis: 1000,
      query_timeout: LIVENESS_TIMEOUT_MS,
      connectionTimeoutMillis: LIVENESS_TIMEOUT_MS,
    });
    const broken = (error: unknown) => {
      if (this.client !== client) return;
      this.options.onError(error);
      this.dropSession();
      this.schedule();
    };
    client.on('error', broken);
    client.on('end', () => broken(new Error('relay leadership session ended')));
    await client.connect();
    this.client = client;
    return client;
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Ending the session frees every lock we still held. */
  private dropSession(): void {
    this.demoteAll();
    this.member = false;
    this.rowSightings.clear();
    this.memberSightings.clear();
    this.unheldSince.clear();
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => undefined);
  }

  private demoteAll(): void {
    const partitions = [...this.leading.keys()];
    this.leading.clear();
    this.lost(partitions);
  }

  private lost(partitions: number[]): void {
    if (partitions.length === 0) return;
    for (const partition of partitions) {
      this.options.onLost?.(partition);
      for (const listener of this.lostListeners) listener(partition);
    }
    this.options.onLedChanged?.(this.leading.size);
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.attempt();
    }, this.retryIntervalMs);
    this.timer.unref();
  }
}
