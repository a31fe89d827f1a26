import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client, ClientBase, QueryConfig, QueryResult, QueryResultRow } from 'pg';

/**
 * node-postgres connections of the pool MikroORM already manages, for the write path's hot
 * statements: one pool for the whole process (so `DATABASE_POOL_MAX` and embedded PGlite's single
 * connection hold), while the hot path runs named prepared statements directly instead of going
 * through the ORM's raw-SQL formatting for every statement. A named statement is parsed and
 * planned once per connection; node-postgres remembers which names a connection has prepared.
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

/** A statement prepared once per connection under its name; its text must never change. */
export interface PreparedStatement {
  name: string;
  text: string;
}

export function run<R extends QueryResultRow>(client: ClientBase, statement: PreparedStatement, values: unknown[]): Promise<QueryResult<R>> {
  const config: QueryConfig = { name: statement.name, text: statement.text, values };
  return client.query<R>(config);
}
