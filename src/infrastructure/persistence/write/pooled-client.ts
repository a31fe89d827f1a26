import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from 'pg';
import { connectDirect, type PostgresConnectionOptions } from '../postgres-connection';

/**
 * node-postgres connections of the pool MikroORM already manages, for the write path: one pool for
 * the whole process, so `DATABASE_POOL_MAX` and embedded PGlite's single connection hold, while the
 * write path talks to PostgreSQL directly instead of through the ORM's raw-SQL formatting.
 */
export class PooledClients {
  constructor(private readonly orm: MikroORM) {}

  async with<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const knex = this.orm.em.getConnection().getKnex();
    const client = (await knex.client.acquireConnection()) as Client;
    try {
      return await work(client);
    } finally {
      await knex.client.releaseConnection(client);
    }
  }
}

/**
 * A connection made for one piece of work and closed after it, never one of the pool's: after a
 * connection went silent, the pool's other idle ones may be on the same dead path (a dropped route, a
 * NAT that forgot them) while a new one gets through.
 */
export async function withFreshClient<T>(url: string, options: PostgresConnectionOptions, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectDirect(url, options, 'parley-write');
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A statement prepared once per connection with SQL's PREPARE, then run as `EXECUTE name(…)`.
 *
 * Why not node-postgres's own named statements: those are sent with the extended protocol, one
 * statement per round trip. `EXECUTE` is plain SQL, so it can share one round trip with other
 * statements (`begin; …; execute load(…)`, `execute append(…); commit`) and still run a plan made
 * once. A write batch costs two round trips this way; on a loaded machine each round trip is the
 * wait for two processes to be scheduled, which is what the batch's latency is made of.
 */
export interface PreparedStatement {
  name: string;
  /** The types of $1, $2, …: every parameter is passed as text and cast. */
  parameterTypes: string[];
  text: string;
}

const prepared = new WeakMap<Client, Set<string>>();

/** Prepares, once per connection, those of the statements it does not have yet. */
export async function prepareOnce(client: Client, statements: PreparedStatement[]): Promise<void> {
  const known = prepared.get(client) ?? new Set<string>();
  const missing = statements.filter((statement) => !known.has(statement.name));
  if (missing.length === 0) return;
  await client.query(missing.map((s) => `prepare ${s.name} (${s.parameterTypes.join(', ')}) as ${s.text}`).join(';\n'));
  for (const statement of missing) known.add(statement.name);
  prepared.set(client, known);
}

/** After PostgreSQL lost a connection's prepared statements (a pooler's DISCARD ALL): prepare again. */
export function forgetPrepared(client: Client): void {
  prepared.delete(client);
}

export function execute(statement: PreparedStatement, values: (string | null)[]): string {
  if (values.length !== statement.parameterTypes.length) throw new Error(`${statement.name} takes ${statement.parameterTypes.length} values`);
  return `execute ${statement.name}(${values.map(literal).join(', ')})`;
}

/**
 * A value written into SQL text: an E'' string with every quote and backslash escaped, which means
 * the same whatever `standard_conforming_strings` says. The text comes from this process
 * (JSON it serialised, ids it checked), and PostgreSQL never sees it as anything but a string.
 */
export function literal(value: string | null): string {
  if (value === null) return 'null';
  return `E'${value.replace(/[\\']/g, '\\$&')}'`;
}

/** The result of the last statement of a multi-statement query (node-postgres answers one per statement). */
export function lastResult<R>(results: unknown): { rows: R[] } {
  const list = Array.isArray(results) ? results : [results];
  return list[list.length - 1] as { rows: R[] };
}
