import { Client } from 'pg';

const CHANNEL = 'parley_outbox';

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

  constructor(private readonly databaseUrl: string, private readonly onError: (error: unknown) => void) {}

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
    const client = new Client({ connectionString: this.databaseUrl });
    const retry = (error: unknown) => {
      if (this.stopped || this.listener !== client) return;
      this.onError(error);
      this.listener = null;
      void client.end().catch(() => undefined);
      this.reconnectTimer = setTimeout(() => void this.listen(onSignal), 1000);
      this.reconnectTimer.unref();
    };
    this.listener = client;
    client.on('notification', () => onSignal());
    client.on('error', retry);
    client.on('end', () => retry(new Error('LISTEN connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      onSignal();
    } catch (error) {
      retry(error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const clients = [this.notifier, this.listener].filter((client): client is Client => client !== null);
    this.notifier = this.listener = null;
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }

  private async sendNotify(): Promise<void> {
    try {
      if (!this.notifier) {
        const client = new Client({ connectionString: this.databaseUrl });
        client.on('error', () => {
          if (this.notifier === client) this.notifier = null;
        });
        await client.connect();
        this.notifier = client;
      }
      await this.notifier.query(`NOTIFY ${CHANNEL}`);
    } catch (error) {
      this.notifier = null;
      this.onError(error);
    }
  }
}
