import type { Client } from 'pg';
import { connectDirect, type PostgresConnectionOptions } from '../persistence/postgres-connection';

const CHANNEL = 'parley_outbox';
/**
 * How often the LISTEN connection proves it still talks. A connection that went silent delivers no
 * notification and says nothing; keepalive alone finds it only after minutes. Until it is replaced the
 * relay still polls, so this bounds added latency, not correctness.
 */
const LISTEN_PROBE_INTERVAL_MS = 10_000;

/**
 * Tells a relay in another process that the outbox has new rows (LISTEN/NOTIFY). The NOTIFY is sent
 * after commit on its own connection, not inside the write transaction, where PostgreSQL would
 * serialise every committing writer on the notification queue lock. It is only a hint: a lost one
 * costs the relay's poll interval, never an event.
 */
export class PostgresCommitSignal {
  private notifier: Client | null = null;
  private notifying = false;
  private again = false;
  private listener: Client | null = null;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private probeTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly onError: (error: unknown) => void,
    private readonly connection: PostgresConnectionOptions = { connectTimeoutMs: 5000, statementTimeoutMs: 5000 },
  ) {}

  /** Coalesced: while one NOTIFY is in flight, any number of commits cause one more. */
  notify(): void {
    if (this.stopped) return;
    if (this.notifying) {
      this.again = true;
      return;
    }
    this.notifying = true;
    void this.sendNotify().finally(() => {
      this.notifying = false;
      if (this.again) {
        this.again = false;
        this.notify();
      }
    });
  }

  /** Calls `onSignal` on every notification, and once after each (re)connection to catch up. */
  async listen(onSignal: () => void): Promise<void> {
    if (this.stopped) return;
    let client: Client | null = null;
    const retry = (error: unknown) => {
      if (this.stopped || (client && this.listener !== client)) return;
      this.onError(error);
      this.listener = null;
      if (this.probeTimer) clearInterval(this.probeTimer);
      void client?.end().catch(() => undefined);
      this.reconnectTimer = setTimeout(() => void this.listen(onSignal), 1000);
      this.reconnectTimer.unref();
    };
    try {
      client = await connectDirect(this.databaseUrl, this.connection, 'parley-listen');
      if (this.stopped) return void client.end().catch(() => undefined);
      this.listener = client;
      client.on('notification', () => onSignal());
      client.on('error', retry);
      client.on('end', () => retry(new Error('LISTEN connection ended')));
      await client.query(`LISTEN ${CHANNEL}`);
      this.probe(client, retry);
      onSignal();
    } catch (error) {
      retry(error);
    }
  }

  /** A statement now and then, under the statement deadline: a silent connection fails it and is replaced. */
  private probe(client: Client, retry: (error: unknown) => void): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = setInterval(() => {
      if (this.listener === client) client.query('select 1').catch(retry);
    }, LISTEN_PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.probeTimer) clearInterval(this.probeTimer);
    const clients = [this.notifier, this.listener].filter((client): client is Client => client !== null);
    this.notifier = this.listener = null;
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }

  private async sendNotify(): Promise<void> {
    try {
      if (!this.notifier) {
        const client = await connectDirect(this.databaseUrl, this.connection, 'parley-notify');
        client.on('error', () => {
          if (this.notifier === client) this.notifier = null;
        });
        this.notifier = client;
      }
      await this.notifier.query(`NOTIFY ${CHANNEL}`);
    } catch (error) {
      void this.notifier?.end().catch(() => undefined);
      this.notifier = null;
      this.onError(error);
    }
  }
}
