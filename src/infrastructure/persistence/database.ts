import { MikroORM } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { EMBEDDED_MAX_CONNECTIONS, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';
import { MIGRATIONS } from './migrations';

export interface Database {
  orm: MikroORM;
  /** Set when Parley runs its own PostgreSQL (no DATABASE_URL). */
  embedded: EmbeddedPostgres | null;
  migrate(): Promise<string[]>;
  isReachable(): Promise<boolean>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  poolMax: number;
  logger?: (message: string) => void;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const embedded = options.databaseUrl ? null : await startEmbeddedPostgres(options.dataDir);
  const url = options.databaseUrl ?? embedded!.url;
  let orm: MikroORM;
  try {
    orm = await MikroORM.init({
      clientUrl: url,
      entities: [],
      discovery: { warnWhenNoEntities: false },
      extensions: [Migrator],
      migrations: { migrationsList: MIGRATIONS, transactional: true, allOrNothing: true, snapshot: false },
      pool: { min: 0, max: embedded ? EMBEDDED_MAX_CONNECTIONS : options.poolMax },
      ensureDatabase: false,
      allowGlobalContext: false,
      logger: options.logger ?? (() => undefined),
    });
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  return {
    orm,
    embedded,
    async migrate() {
      const applied = await orm.getMigrator().up();
      return applied.map((migration) => migration.name);
    },
    async isReachable() {
      try {
        await orm.em.fork().execute('select 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await orm.close(true);
      await embedded?.stop();
    },
  };
}
