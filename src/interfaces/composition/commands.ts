import { signDevelopmentToken } from '../../infrastructure/auth/development-token';
import { ConfigError, loadConfig, redisEndpoint, type Config } from '../../infrastructure/config/config';
import { createLogger, type Logger } from '../../infrastructure/logging/logger';
import { openDatabase, type Database } from '../../infrastructure/persistence/database';
import { rebuildReadModels } from '../../infrastructure/persistence/read-model-rebuild';
import { RedisTransport } from '../../infrastructure/redis/redis-transport.adapter';
import { formatDuration } from '../../infrastructure/config/duration';
import { asTheOnlyPruner, pruneOutbox, type PruneSummary } from '../../infrastructure/relay/outbox-prune';
import { parseReplayBound, replayOutbox } from '../../infrastructure/relay/outbox-replay';
import { gatherClusterStatus, type ClusterStatus } from './cluster-status';
import { startServer, type RunningServer } from './server';

/** What the command line can ask of the composed application; keeps the CLI free of adapters. */
export { loadConfig, createLogger, ConfigError, type ClusterStatus, type Config, type Logger, type RunningServer };

export async function serve(config: Config, logger: Logger): Promise<RunningServer> {
  if (config.auth.usingDevelopmentSecret) {
    logger.warn('AUTH_JWT_SECRET and AUTH_JWKS_URL are unset: using the development secret; never do this in production');
  }
  if (!config.databaseUrl) logger.info({ dataDir: config.dataDir }, 'DATABASE_URL is unset: using embedded PostgreSQL (PGlite)');
  return startServer(config, logger);
}

/** Counts so far, of how many (DESIGN.md §6 commands report them; the command line draws them). */
export type ProgressCallback = (done: number, total?: number) => void;

export function migrate(config: Config, logger: Logger, onProgress?: ProgressCallback): Promise<string[]> {
  return withDatabase(config, logger, (database) => database.migrate(onProgress));
}

/**
 * The read models `projections rebuild` knows, by name. Unread counts are computed from these when
 * asked (DESIGN.md §4), so rebuilding them rebuilds the counts too.
 */
export const PROJECTIONS = { 'read-models': rebuildReadModels } as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Rebuilds the named projections (all when none is named) from the event store; answers events replayed per name. */
export async function rebuildProjections(
  config: Config,
  logger: Logger,
  names: string[],
  progressOf?: (name: string) => ProgressCallback,
): Promise<Record<string, number>> {
  const unknown = names.filter((name) => !(name in PROJECTIONS));
  if (unknown.length > 0) {
    throw new UsageError(`unknown projection ${unknown.join(', ')}; known: ${Object.keys(PROJECTIONS).join(', ')}`);
  }
  const chosen = (names.length > 0 ? names : Object.keys(PROJECTIONS)) as (keyof typeof PROJECTIONS)[];
  return withDatabase(config, logger, async (database) => {
    const replayed: Record<string, number> = {};
    for (const name of chosen) replayed[name] = await PROJECTIONS[name](database.orm, progressOf?.(name));
    return replayed;
  });
}

/** Publishes a range of the outbox to Redis again (DESIGN.md §3); answers how many rows. */
export async function replayOutboxRange(
  config: Config,
  logger: Logger,
  from: string,
  to: string | undefined,
  onProgress?: ProgressCallback,
): Promise<number> {
  const fromBound = parseReplayBound(from);
  const toBound = to === undefined ? undefined : parseReplayBound(to);
  if (!fromBound) throw new UsageError(`--from must be a cursor ("<txid>.<position>") or an ISO-8601 time (got "${from}")`);
  if (toBound === null) throw new UsageError(`--to must be a cursor ("<txid>.<position>") or an ISO-8601 time (got "${to}")`);
  const endpoint = redisEndpoint(config);
  if (!endpoint) throw new UsageError('outbox replay publishes to Redis: set REDIS_URL or REDIS_CLUSTER_URLS');
  const transport = new RedisTransport({
    ...endpoint,
    prefix: config.redisChannelPrefix,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    onError: (error) => logger.warn({ err: error }, 'redis'),
  });
  try {
    await untilRedisAnswers(transport);
    return await withDatabase(config, logger, (database) => replayOutbox(database.orm, transport, { from: fromBound, to: toBound }, { onProgress }));
  } finally {
    await transport.close();
  }
}

/**
 * `parley outbox prune [--dry-run]`: one run of the relays' pruner, now (DESIGN.md §4). Answers what it
 * deleted (or would), or null when another pruner is at work (a relay's, or another command's).
 * `onProgress` is called with rows looked at against rows older than the retention.
 */
export async function pruneOutboxNow(
  config: Config,
  logger: Logger,
  options: { dryRun: boolean; now?: Date; onProgress?: (done: number, total?: number) => void },
): Promise<{ summary: PruneSummary; retention: string } | null> {
  const retentionMs = config.outboxRetentionMs;
  if (retentionMs === undefined) throw new UsageError('OUTBOX_RETENTION is not set: the outbox is kept for ever, and there is nothing to prune (e.g. OUTBOX_RETENTION=30d)');
  return withDatabase(config, logger, async (database) => {
    const connection = { connectTimeoutMs: config.database.connectTimeoutMs, statementTimeoutMs: null };
    const summary = await asTheOnlyPruner(database.orm, config.databaseUrl, connection, (query) =>
      pruneOutbox(query, { retentionMs, now: options.now ?? new Date(), dryRun: options.dryRun, onProgress: options.onProgress }),
    );
    return summary && { summary, retention: formatDuration(retentionMs) };
  });
}

/** How long `outbox replay` waits for Redis to answer before it gives up, with nothing published. */
const REDIS_WAIT_MS = 15_000;

/**
 * A command starts with a new connection, and a Redis Cluster client may need a retry or two before its
 * first slots map: the replay waits for an answer rather than failing its first publish.
 */
async function untilRedisAnswers(transport: RedisTransport): Promise<void> {
  const deadline = Date.now() + REDIS_WAIT_MS;
  while (!(await transport.publisherHealthy())) {
    if (Date.now() > deadline) throw new Error(`Redis did not answer within ${REDIS_WAIT_MS / 1000} s: nothing was replayed`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * `parley status`: partitions, receivers and the outbox from PostgreSQL and Redis. The embedded
 * database belongs to the process that runs it, so status needs DATABASE_URL.
 */
export async function clusterStatus(config: Config, logger: Logger): Promise<ClusterStatus> {
  if (!config.databaseUrl) throw new UsageError('status reads PostgreSQL: set DATABASE_URL (the embedded database is the running process\'s own)');
  return withDatabase(config, logger, (database) => gatherClusterStatus(config, database), { statementTimeoutMs: STATUS_DEADLINE_MS });
}

/** A look that does not answer within this is a database in trouble: status says so rather than hang. */
const STATUS_DEADLINE_MS = 30_000;

async function withDatabase<T>(
  config: Config,
  logger: Logger,
  work: (database: Database) => Promise<T>,
  options: { statementTimeoutMs?: number } = {},
): Promise<T> {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: 2,
    statementTimeoutMs: options.statementTimeoutMs,
    logger: (message) => logger.debug({ component: 'mikro-orm' }, message),
  });
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

export async function issueToken(config: Config, userId: string, ttl: string): Promise<string> {
  if (!config.auth.jwtSecret) {
    throw new Error('cannot sign a token: only AUTH_JWKS_URL is configured (set AUTH_JWT_SECRET to sign HS256 tokens)');
  }
  return signDevelopmentToken(config.auth.jwtSecret, userId, ttl, { issuer: config.auth.issuer, audience: config.auth.audience });
}
