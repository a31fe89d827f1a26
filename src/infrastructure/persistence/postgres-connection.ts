import { Client, type ClientConfig } from 'pg';
import { applyStatementDeadline } from './statement-deadline';

/**
 * How long a connection may take to come up, and how often an idle one is probed by TCP keepalive. A
 * silent peer is then found by the kernel within about a minute even when nothing is being sent
 * (Linux: this delay, then 9 probes 75 s apart by default, or what the host is tuned to); while a
 * statement is in flight, the statement deadline finds it sooner.
 */
export const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

export interface PostgresConnectionOptions {
  /** Connection setup (TCP, TLS, authentication), in ms. */
  connectTimeoutMs: number;
  /** Client-side deadline of each statement, in ms; null: none (operator commands that may run long). */
  statementTimeoutMs: number | null;
}

/** The node-postgres settings every connection of Parley's uses: keepalive and a bounded connect. */
export function connectionSettings(options: Pick<PostgresConnectionOptions, 'connectTimeoutMs'>): Pick<ClientConfig, 'keepAlive' | 'keepAliveInitialDelayMillis' | 'connectionTimeoutMillis'> {
  return { keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS, connectionTimeoutMillis: options.connectTimeoutMs };
}

/**
 * A connection of its own (not from the pool), with the same keepalive, connect bound and statement
 * deadline as the pool's: for work that must not wait behind the pool (probes, ending a silent
 * session). Its `error` event is handled: a connection that breaks fails its statements instead of
 * taking the process down.
 */
export async function connectDirect(databaseUrl: string, options: PostgresConnectionOptions, applicationName?: string): Promise<Client> {
  const client = new Client({ connectionString: databaseUrl, application_name: applicationName, ...connectionSettings(options) });
  client.on('error', () => undefined);
  applyStatementDeadline(client, () => options.statementTimeoutMs);
  await client.connect();
  return client;
}
