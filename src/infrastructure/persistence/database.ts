import { MikroORM } from '@mikro-orm/postgresql';
import { Migration, Migrator } from '@mikro-orm/migrations';
import type { Client } from 'pg';
import { EMBEDDED_MAX_CONNECTIONS, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';
import { MIGRATIONS } from './migrations';
import { connectDirect, connectionSettings, type PostgresConnectionOptions } from './postgres-connection';
import { asUnavailable } from './postgres-failures';
import { applyStatementDeadline, destroyConnection } from './statement-deadline';

export interface Database {
  orm: MikroORM;
  /** Set when Parley runs its own PostgreSQL (no DATABASE_URL). */
  embedded: EmbeddedPostgres | null;
  /** The URL connections are made with (the embedded server's, without DATABASE_URL). */
  url: string;
  /** The deadlines and connect bound every connection of this database uses. */
  connection: PostgresConnectionOptions;
  /** Applies pending migrations, answering their names; `onProgress` hears each one applied, of how many. */
  migrate(onProgress?: (done: number, total: number) => void): Promise<string[]>;
  /** One `select 1` on a connection of its own, within the statement deadline: never queued behind busy pool connections. */
  isReachable(): Promise<boolean>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  poolMax: number;
  /** Client-side deadline per statement (ms); unset: none, for operator commands that may run long. */
  statementTimeoutMs?: number;
  /** Connection setup bound (ms; 5000). */
  connectTimeoutMs?: number;
  logger?: (message: string) => void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * Opens MikroORM's pool (the one pool of the process) with TCP keepalive, a bounded connect, and a
 * client-side deadline on every statement (DESIGN.md §5: nothing waits without a deadline). A failure
 * that means the database is down or silent reaches callers as `Unavailable` (UNAVAILABLE at the edge).
 * Opening does not need the database to be up: the first statement does.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const embedded = options.databaseUrl ? null : await startEmbeddedPostgres(options.dataDir);
  const url = options.databaseUrl ?? embedded!.url;
  const connection: PostgresConnectionOptions = {
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: options.statementTimeoutMs ?? null,
  };
  // Migrations may rewrite large tables: no deadline while they run (they run before anything is served).
  let migrating = false;
  let migrationStarting: (() => void) | null = null;
  const deadline = () => (migrating ? null : connection.statementTimeoutMs);
  let orm: MikroORM;
  try {
    orm = await MikroORM.init({
      clientUrl: url,
      entities: [],
      discovery: { warnWhenNoEntities: false },
      extensions: [Migrator],
      migrations: {
        migrationsList: announced(MIGRATIONS, () => migrationStarting?.()),
        transactional: true,
        allOrNothing: true,
        snapshot: false,
      },
      pool: {
        min: 0,
        max: embedded ? EMBEDDED_MAX_CONNECTIONS : options.poolMax,
        afterCreate(client: Client, done: (error: Error | null, client: Client) => void) {
          applyStatementDeadline(client, deadline);
          // No JIT: Parley's statements are short, and a plan whose cost passes jit_above_cost (the relay's
          // and the receivers' pages on a large outbox, or any scan the write path's `enable_seqscan = off`
          // penalises) spent about 100 ms compiling a statement of a millisecond.
          client.query('set jit = off').then(() => done(null, client), (error: Error) => done(error, client));
        },
      },
      driverOptions: {
        connection: connectionSettings(connection),
        // knex writes to the console by default ("Connection Error: …" when it drops a broken connection).
        log: knexLog(options.logger ?? (() => undefined)),
        // Waiting for a free connection counts against the same bound as a statement.
        ...(connection.statementTimeoutMs ? { acquireConnectionTimeout: connection.statementTimeoutMs } : {}),
      },
      ensureDatabase: false,
      allowGlobalContext: false,
      logger: options.logger ?? (() => undefined),
    });
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  reportUnavailability(orm);
  const probe = embedded ? null : new ProbeConnection(url, connection);
  return {
    orm,
    embedded,
    url,
    connection,
    async migrate(onProgress) {
      migrating = true;
      const migrator = orm.getMigrator();
      const total = onProgress ? (await migrator.getPendingMigrations()).length : 0;
      let started = 0;
      onProgress?.(0, total);
      // Migrations run one after another: when one starts, those before it are applied.
      migrationStarting = onProgress ? () => onProgress(started++, total) : null;
      try {
        const migrations = await migrator.up();
        onProgress?.(migrations.length, total);
        return migrations.map((migration) => migration.name);
      } finally {
        migrating = false;
        migrationStarting = null;
      }
    },
    async isReachable() {
      try {
        if (probe) await probe.selectOne();
        else await orm.em.fork().execute('select 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await probe?.close();
      await orm.close(true);
      await embedded?.stop();
    },
  };
}

/**
 * Every statement MikroORM runs (queries, the relay's and the feed's reads) fails as `Unavailable`
 * when the database is down or silent, so that callers and the GraphQL edge tell "retry later" from a
 * refusal or a bug. One place: the driver's own exception conversion, which every EntityManager
 * fork goes through.
 */
function reportUnavailability(orm: MikroORM): void {
  const driver = orm.em.getDriver() as unknown as { convertException: (error: Error) => Error };
  const convert = driver.convertException.bind(driver);
  driver.convertException = (error) => asUnavailable(error) ?? convert(error);
}

type MigrationClass = new (...args: ConstructorParameters<typeof Migration>) => Migration;
/** Each of Parley's migrations implements `up`: the abstract declaration hides it from `super`. */
type ConcreteMigrationClass = new (...args: ConstructorParameters<typeof Migration>) => Migration & { up(): void | Promise<void> };

/**
 * The migrations, each telling `starting` when it begins. The migrator's own 'migrated' event cannot
 * serve: it makes a new emitter each time it checks the database, dropping the listeners on the old one.
 */
function announced(migrations: { name: string; class: unknown }[], starting: () => void): { name: string; class: MigrationClass }[] {
  return migrations.map(({ name, class: base }) => {
    const Base = base as ConcreteMigrationClass;
    return {
      name,
      class: class extends Base {
        override up(): void | Promise<void> {
          starting();
          return super.up();
        }
      },
    };
  });
}

function knexLog(logger: (message: string) => void) {
  const write = (message: unknown) => logger(`knex: ${String(message)}`);
  return { warn: write, error: write, deprecate: write, debug: write };
}

/** The readiness probe's own connection, made again after any failure; one probe in flight at a time. */
class ProbeConnection {
  private client: Client | null = null;
  private inFlight: Promise<void> | null = null;

  constructor(private readonly url: string, private readonly options: PostgresConnectionOptions) {}

  /** Probes that come while one is in flight share its answer: a silent database never piles them up. */
  selectOne(): Promise<void> {
    this.inFlight ??= this.probe().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async probe(): Promise<void> {
    try {
      this.client ??= await connectDirect(this.url, { ...this.options, statementTimeoutMs: this.options.statementTimeoutMs ?? PROBE_DEADLINE_MS }, 'parley-probe');
      await this.client.query('select 1');
    } catch (error) {
      const broken = this.client;
      this.client = null;
      if (broken) destroyConnection(broken);
      throw error;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}

/** A probe without a configured deadline still gives up: a readiness answer must come. */
const PROBE_DEADLINE_MS = 5000;
