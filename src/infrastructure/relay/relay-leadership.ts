import { Client } from 'pg';

/** One key for the whole deployment: exactly one relay publishes at a time. */
const RELAY_LOCK_KEY = 7_071_020_511n;
const LIVENESS_TIMEOUT_MS = 3000;

export interface RelayLeadershipOptions {
  databaseUrl: string;
  retryIntervalMs?: number;
  onGained(): void;
  onLost(): void;
  onError(error: unknown): void;
}

/**
 * Leader election by PostgreSQL advisory lock (DESIGN.md §3). The lock lives in a session of its own:
 * when the leader's process dies, PostgreSQL ends the session and frees the lock, and a standby takes
 * it at its next try, within `retryIntervalMs`. A leader whose session breaks stops publishing at once.
 */
export class RelayLeadership {
  private client: Client | null = null;
  private leader = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: RelayLeadershipOptions) {}

  get isLeader(): boolean {
    return this.leader;
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

  /** A standby tries for the lock; the leader proves its session still answers (a dead one frees the lock). */
  private async attempt(): Promise<void> {
    if (this.stopped) return;
    try {
      const client = this.client ?? (await this.connect());
      if (this.leader) {
        await client.query('select 1');
      } else {
        const { rows } = await client.query<{ acquired: boolean }>('select pg_try_advisory_lock($1) as acquired', [
          RELAY_LOCK_KEY.toString(),
        ]);
        if (rows[0]!.acquired && !this.stopped) {
          this.leader = true;
          this.options.onGained();
        }
      }
    } catch (error) {
      this.options.onError(error);
      this.dropSession();
    }
    this.schedule();
  }

  private async connect(): Promise<Client> {
    // A query that hangs (a half-open connection) must end the lead, not keep it: hence the timeout.
    const client = new Client({
      connectionString: this.options.databaseUrl,
      keepAlive: true,
      keepAliveInitialDelayMillis: 1000,
      query_timeout: LIVENESS_TIMEOUT_MS,
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

  private dropSession(): void {
    this.demote();
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => undefined);
  }

  private demote(): void {
    if (!this.leader) return;
    this.leader = false;
    this.options.onLost();
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.attempt();
    }, this.options.retryIntervalMs ?? 1000);
    this.timer.unref();
  }
}
