import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import type { RelayLead } from './relay-lead';

/** One key for the whole deployment: exactly one relay publishes at a time. */
const RELAY_LOCK_KEY = 7_071_020_511n;
const LEADERSHIP_NAME = 'outbox-relay';
const LIVENESS_TIMEOUT_MS = 3000;
const DEFAULT_LEASE_MS = 5000;
/** How long a standby waits for a terminated leader's backend to exit, freeing the lock. */
const TERMINATE_WAIT_MS = 1000;

export interface RelayLeadershipOptions {
  databaseUrl: string;
  /** How often a standby tries for the lead and the leader heartbeats (1 s). */
  retryIntervalMs?: number;
  /** A leader whose heartbeat a standby has not seen move for this long is replaced (5 s). */
  leaseMs?: number;
  /** Who we are, for whoever reads `relay_leadership` (host:pid). */
  holder?: string;
  /** For logs and metrics; the relay learns of a new lead through `whenGained`. */
  onGained?(epoch: number): void;
  onLost?(): void;
  /** We ended the session of a leader whose heartbeat had stopped, so that a standby can lead. */
  onEndedFrozenLeader?(leader: { holder: string; epoch: number }): void;
  /**
   * Whether this relay's transport answers now (a ping within its deadline). A standby tries for the lead,
   * or replaces a frozen leader, only while it does: the lead goes to a relay that can publish. Absent,
   * the transport is taken to answer.
   */
  transportAnswers?(): Promise<boolean>;
  /** We gave the lead up because we could not publish (see `stepDown`). */
  onSteppedDown?(reason: string): void;
  /** The transport stopped (true) or started again (false) answering: meanwhile we do not try for the lead. */
  onStandingAside?(aside: boolean): void;
  onError(error: unknown): void;
  /** Tests only: while true this instance's timer does nothing, as if its process were stopped. */
  frozen?(): boolean;
}

/** The leader's row as a standby last saw it, and when (monotonic) it first saw it so. */
interface Sighting {
  epoch: string;
  beat: string;
  backendPid: number;
  since: number;
}

/**
 * The lock is taken and the epoch advanced in one statement, so whoever holds the lock has written its
 * row (and its backend pid) by the time anyone can see the row. A standby that finds the row naming
 * another backend than the lock's holder is looking at a takeover in progress, never a frozen leader.
 */
const ACQUIRE = `
  with attempt as materialized (select pg_try_advisory_lock($1::bigint) as acquired),
  lead as (
    insert into relay_leadership as l (name, epoch, holder, backend_pid, beat, heartbeat_at)
    select $2, 1, $3, pg_backend_pid(), 0, now() from attempt where acquired
    on conflict (name) do update
      set epoch = l.epoch + 1, holder = excluded.holder, backend_pid = excluded.backend_pid, beat = l.beat + 1,
          heartbeat_at = excluded.heartbeat_at
    returning epoch
  )
  select (select epoch::text from lead) as epoch`;

const LEADER_ROW = 'select epoch::text as epoch, beat::text as beat, backend_pid from relay_leadership where name = $1';

/**
 * Terminates the lock holder's backend, only if the row is still exactly as the standby saw it a lease
 * ago and names that very backend. PostgreSQL keys a one-bigint advisory lock as (classid = high 32 bits,
 * objid = low 32 bits, objsubid = 1) in the current database. The wait lets the lock be free when this
 * answers.
 */
const TERMINATE_FROZEN = `
  select r.holder, pg_terminate_backend(l.pid, $6::bigint) as terminated
  from relay_leadership r
  join pg_locks l on l.pid = r.backend_pid
  where r.name = $2 and r.epoch = $3::bigint and r.beat = $4::bigint and r.backend_pid = $5
    and l.locktype = 'advisory' and l.granted and l.objsubid = 1
    and l.database = (select oid from pg_database where datname = current_database())
    and l.classid = (($1::bigint >> 32) & 4294967295)::oid
    and l.objid = ($1::bigint & 4294967295)::oid`;

/**
 * Proves we still act and still lead: no row means a standby replaced us (or someone moved the epoch).
 * `$3` above our epoch makes us lead on with an epoch above it (see `refused`).
 */
const HEARTBEAT = `
  update relay_leadership set beat = beat + 1, heartbeat_at = now(),
    epoch = case when $3::bigint > epoch then $3::bigint + 1 else epoch end
  where name = $1 and epoch = $2 and backend_pid = pg_backend_pid()
  returning epoch::text as epoch`;

/**
 * Leader election by PostgreSQL advisory lock (DESIGN.md §3), with a lease and a fencing epoch
 * (docs/architecture.md, Leadership). The lock lives in a session of its own: when the leader's process
 * dies, PostgreSQL frees it. A leader that is alive but frozen (SIGSTOP, a long pause) keeps its session,
 * so it also heartbeats `relay_leadership` on that session every `retryIntervalMs`; a standby that sees
 * no heartbeat for `leaseMs` by its own monotonic clock (no wall clock is read, so clock steps do not
 * matter) terminates the holder's backend and takes the lock, raising the epoch. The epoch fences what a
 * replaced leader may still try: Redis refuses its publishes, PostgreSQL its checkpoint saves.
 */
export class RelayLeadership implements RelayLead {
  readonly name = LEADERSHIP_NAME;
  private client: Client | null = null;
  private leader = false;
  private currentEpoch = 0;
  /** When (monotonic) the last heartbeat that succeeded was sent. */
  private confirmedAt = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  /** Heartbeats, tries and refusals run one at a time on the session, each seeing the last one's epoch. */
  private queue: Promise<unknown> = Promise.resolve();
  private sighting: Sighting | null = null;
  private standingAside = false;
  /** After stepping down, no try for the lead before this (monotonic): the other relays try first. */
  private holdOffUntil = 0;
  private readonly retryIntervalMs: number;
  private readonly leaseMs: number;
  private readonly holder: string;
  private readonly gainedListeners: (() => void)[] = [];

  constructor(private readonly options: RelayLeadershipOptions) {
    this.retryIntervalMs = options.retryIntervalMs ?? 1000;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.holder = options.holder ?? `${hostname()}:${process.pid}`;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /**
   * A standby takes over only after seeing our last heartbeat unchanged for `leaseMs`, from a moment
   * after that heartbeat committed, so no earlier than `leaseMs` after we sent it. We stop publishing
   * sooner, at 80 % of the lease after sending, until a heartbeat confirms us again: a leader whose timers
   * ran late does not publish on an expired lease. (The margin covers the way from this check to Redis;
   * Redis fences whatever comes later.)
   */
  epoch(): number | null {
    if (!this.leader) return null;
    return performance.now() - this.confirmedAt < this.leaseMs * 0.8 ? this.currentEpoch : null;
  }

  whenGained(listener: () => void): void {
    this.gainedListeners.push(listener);
  }

  start(): void {
    void this.attempt();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.demote();
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  refused(fencedBy = 0): Promise<number | null> {
    return this.serially(async () => {
      if (!this.leader || !this.client) return null;
      const before = this.currentEpoch;
      try {
        await this.heartbeat(this.client, fencedBy);
      } catch (error) {
        this.options.onError(error);
        this.dropSession();
        return null;
      }
      if (this.currentEpoch !== before) {
        // Only a relay holding the lock writes epochs, and PostgreSQL still says that is us: the newer
        // epoch in Redis is a leftover (a database recreated or restored under a Redis that kept its key).
        this.options.onError(new Error(`the transport held fencing epoch ${fencedBy}, above this leader's ${before}: leading on as ${this.currentEpoch}`));
      }
      return this.currentEpoch;
    });
  }

  /**
   * Gives the lead up: ending the session frees the lock at once, and the row keeps our epoch, so the
   * next leader raises it and fences whatever we still have on its way, as after any change of leader.
   * We try for the lead again only once our transport answers (see `attempt`).
   */
  stepDown(reason: string): Promise<void> {
    return this.serially(async () => {
      if (!this.leader) return;
      this.options.onSteppedDown?.(reason);
      // Our ping may pass where our publishes failed (a link that carries small commands only): every
      // other standby gets a try at the free lock before we may take it back.
      this.holdOffUntil = performance.now() + 2 * this.retryIntervalMs;
      this.dropSession();
    });
  }

  /** A standby whose transport answers tries for the lead, replacing a frozen leader; the leader heartbeats. */
  private async attempt(): Promise<void> {
    if (this.stopped) return;
    if (!this.options.frozen?.() && (this.leader || (await this.mayTryForLead()))) {
      await this.serially(async () => {
        try {
          const client = this.client ?? (await this.connect());
          if (this.leader) await this.heartbeat(client, 0);
          else if (!(await this.tryToLead(client)) && (await this.replaceFrozenLeader(client))) await this.tryToLead(client);
        } catch (error) {
          this.options.onError(error);
          this.dropSession();
        }
      });
    }
    this.schedule();
  }

  private async mayTryForLead(): Promise<boolean> {
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

  private async tryToLead(client: Client): Promise<boolean> {
    const sentAt = performance.now();
    const { rows } = await client.query<{ epoch: string | null }>(ACQUIRE, [RELAY_LOCK_KEY.toString(), this.name, this.holder]);
    const epoch = rows[0]!.epoch;
    if (epoch === null || this.stopped) return false;
    this.sighting = null;
    this.leader = true;
    this.currentEpoch = Number(epoch);
    this.confirmedAt = sentAt;
    this.options.onGained?.(this.currentEpoch);
    for (const listener of this.gainedListeners) listener();
    return true;
  }

  /**
   * True when the holder of the lock has not heartbeaten for a lease and its backend is gone now. The
   * lease is timed from when this standby first saw the row as it is, on this standby's clock alone.
   */
  private async replaceFrozenLeader(client: Client): Promise<boolean> {
    const { rows } = await client.query<{ epoch: string; beat: string; backend_pid: number }>(LEADER_ROW, [this.name]);
    const seenAt = performance.now();
    const row = rows[0];
    if (!row) return false;
    const last = this.sighting;
    if (!last || last.epoch !== row.epoch || last.beat !== row.beat || last.backendPid !== row.backend_pid) {
      this.sighting = { epoch: row.epoch, beat: row.beat, backendPid: row.backend_pid, since: seenAt };
      return false;
    }
    if (seenAt - last.since < this.leaseMs) return false;
    const { rows: ended } = await client.query<{ holder: string; terminated: boolean }>(TERMINATE_FROZEN, [
      RELAY_LOCK_KEY.toString(),
      this.name,
      last.epoch,
      last.beat,
      last.backendPid,
      TERMINATE_WAIT_MS,
    ]);
    const frozen = ended.find((leader) => leader.terminated);
    if (frozen) this.options.onEndedFrozenLeader?.({ holder: frozen.holder, epoch: Number(last.epoch) });
    return frozen !== undefined;
  }

  /** Throws when we no longer lead. */
  private async heartbeat(client: Client, above: number): Promise<void> {
    const sentAt = performance.now();
    const { rows } = await client.query<{ epoch: string }>(HEARTBEAT, [this.name, this.currentEpoch, above]);
    if (rows.length === 0) throw new Error(`the relay lead was taken over: epoch ${this.currentEpoch} is no longer current`);
    this.currentEpoch = Number(rows[0]!.epoch);
    this.confirmedAt = sentAt;
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

  /** Ending the session frees the lock, if we still held it. */
  private dropSession(): void {
    this.demote();
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => undefined);
  }

  private demote(): void {
    if (!this.leader) return;
    this.leader = false;
    this.options.onLost?.();
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
