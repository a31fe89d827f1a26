import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import { LOG_FORMATS, type LogFormat } from '../logging/logger';
import { DEVELOPMENT_JWT_SECRET, EXAMPLE_JWT_SECRETS, PRODUCTION_MIN_SECRET_BYTES } from './example-secrets';

export { DEVELOPMENT_JWT_SECRET };

/**
 * Everything Parley reads from the environment (DESIGN.md §6), validated once at start.
 * A bad value stops the process with one line naming the variable (see ConfigError).
 */
const roles = ['sender', 'receiver', 'relay', 'all'] as const;
export type Role = (typeof roles)[number];

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const url = (protocols: string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((protocol) => `${protocol}//`).join(' or ')}`);

const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);

/** Checked with the very library that applies the list (interfaces/http/client-address.ts). */
const proxyList = z
  .string()
  .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
  .refine((entries) => {
    try {
      proxyAddr.compile(entries);
      return true;
    } catch {
      return false;
    }
  }, 'must be a comma-separated list of IP addresses, CIDR subnets, or the names loopback, linklocal, uniquelocal');

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  ROLE: z
    .string()
    .default('all')
    .transform((value) => value.split(',').map((role) => role.trim()))
    .pipe(z.array(z.enum(roles)).min(1)),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  REDIS_CLUSTER_URLS: z
    .string()
    .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .pipe(z.array(url(['redis:', 'rediss:'])).min(1, 'must name at least one seed node'))
    .optional(),
  REDIS_CHANNEL_PREFIX: z.string().default(''),
  REDIS_COMMAND_TIMEOUT_MS: positiveInt(600_000).default(1000),
  RELAY_PARTITIONS: positiveInt(1024).default(16),
  REDIS_BROADCAST_CHANNELS: booleanFlag.default(false),
  AUTH_JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  AUTH_JWKS_URL: url(['https:', 'http:']).optional(),
  AUTH_JWT_ISSUER: z.string().optional(),
  AUTH_JWT_AUDIENCE: z.string().optional(),
  MIGRATE_ON_START: booleanFlag.default(true),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(LOG_FORMATS).optional(),
  DATABASE_POOL_MAX: positiveInt(200).default(10),
  WRITE_CONCURRENCY: positiveInt(64).default(1),
  WRITE_BATCH_MAX: positiveInt(1000).default(64),
  WRITE_QUEUE_MAX: positiveInt(1_000_000).default(5000),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt(3_600_000).default(10_000),
  DATABASE_CONNECT_TIMEOUT_MS: positiveInt(600_000).default(5000),
  MAX_BODY_BYTES: positiveInt(64 * 1024 * 1024).default(100 * 1024),
  MAX_QUERY_DEPTH: positiveInt(100).default(8),
  MAX_QUERY_COST: positiveInt(1_000_000).default(5000),
  GRAPHIQL: booleanFlag.optional(),
  WS_MAX_BUFFERED_BYTES: positiveInt(1024 * 1024 * 1024).default(1024 * 1024),
  WS_MAX_PENDING_MESSAGES: positiveInt(10_000_000).default(10_000),
  WS_CONNECTION_INIT_TIMEOUT_MS: positiveInt(600_000).default(3000),
  WS_OPERATIONS_PER_SECOND: positiveInt(100_000).default(50),
  WS_MAX_SUBSCRIPTIONS: positiveInt(100_000).default(200),
  WS_MAX_CONNECTIONS_PER_USER: positiveInt(100_000).default(20),
  WS_PING_INTERVAL_MS: positiveInt(3_600_000).default(30_000),
  HTTP_OPERATIONS_PER_SECOND: positiveInt(1_000_000).default(100),
  TRUST_PROXY: proxyList.optional(),
  POLL_INTERVAL_MS: positiveInt(600_000).default(1000),
  PRESENCE_INTERVAL_MS: positiveInt(600_000).default(10_000),
});

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  roles: Role[];
  databaseUrl?: string;
  dataDir: string;
  redisUrl?: string;
  /** The seed nodes of a Redis Cluster, instead of `redisUrl`. */
  redisClusterUrls?: string[];
  redisChannelPrefix: string;
  /** How long any Redis command may take; past it the command fails and its connection is replaced. */
  redisCommandTimeoutMs: number;
  /**
   * Ordering partitions (DESIGN.md §3): the number a new deployment starts with. The database keeps the
   * number in force (relay_settings), which may only grow; see partition-count.ts.
   */
  relayPartitions: number;
  /** Also publish the nine original global channels for consumers outside Parley. */
  redisBroadcastChannels: boolean;
  auth: { jwtSecret?: string; jwksUrl?: string; issuer?: string; audience?: string; usingDevelopmentSecret: boolean };
  migrateOnStart: boolean;
  logLevel: string;
  /** Readable lines for a person at a terminal, JSON lines for everything else (see logging/logger.ts). */
  logFormat: LogFormat;
  databasePoolMax: number;
  /** Group commit: write transactions in flight at once per process, commands in one at most, commands waiting at most. */
  writes: { concurrency: number; maxBatch: number; maxQueued: number };
  /** Client-side deadlines of PostgreSQL: each statement (and write batch), and connection setup. */
  database: { statementTimeoutMs: number; connectTimeoutMs: number };
  limits: { maxBodyBytes: number; maxQueryDepth: number; maxQueryCost: number };
  websocket: {
    maxBufferedBytes: number;
    maxPendingMessages: number;
    connectionInitTimeoutMs: number;
    operationsPerSecond: number;
    maxSubscriptions: number;
    maxConnectionsPerUser: number;
    pingIntervalMs: number;
  };
  /** GraphQL operations per user per second over HTTP, per instance. */
  httpOperationsPerSecond: number;
  /**
   * Proxies whose `x-forwarded-for` is believed, as proxy-addr reads them (addresses, subnets, names);
   * empty: nobody's, and a request's address is its socket's peer.
   */
  trustProxy: string[];
  /** How often the relay and projections look for work when no wake-up came. */
  pollIntervalMs: number;
  /**
   * How often each receiver renews its presence registration (DESIGN.md §10); a registration holds for
   * two intervals, so a receiver killed without a word stops claiming its users within two and the
   * next sweep, at most one more, announces them.
   */
  presenceIntervalMs: number;
  graphiql: boolean;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`invalid configuration: ${variable} ${reason}`);
    this.name = 'ConfigError';
  }
}

/**
 * `stdoutIsTTY` decides the default LOG_FORMAT: a person reads a terminal, and anything that reads a pipe or
 * a file (a log shipper, a test) wants JSON.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, stdoutIsTTY = Boolean(process.stdout.isTTY)): Config {
  const parsed = schema.safeParse(withoutEmptyValues(env));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    // A secret is never echoed: the line goes to logs.
    const value = variable === 'AUTH_JWT_SECRET' ? undefined : env[variable];
    throw new ConfigError(variable, `${issue.message}${value === undefined ? '' : ` (got "${value}")`}`);
  }
  const e = parsed.data;
  const roles = e.ROLE.includes('all') ? (['all'] as Role[]) : e.ROLE;
  if (e.NODE_ENV === 'production' && !e.AUTH_JWT_SECRET && !e.AUTH_JWKS_URL) {
    throw new ConfigError('AUTH_JWT_SECRET', 'is required in production (or set AUTH_JWKS_URL)');
  }
  if (e.NODE_ENV === 'production' && e.AUTH_JWT_SECRET) checkProductionSecret(e.AUTH_JWT_SECRET);
  if (e.REDIS_URL && e.REDIS_CLUSTER_URLS) {
    throw new ConfigError('REDIS_CLUSTER_URLS', 'and REDIS_URL are both set: name one Redis, or the seed nodes of one Redis Cluster');
  }
  if (!roles.includes('all') && !e.REDIS_URL && !e.REDIS_CLUSTER_URLS) {
    throw new ConfigError('REDIS_URL', `(or REDIS_CLUSTER_URLS) is required for ROLE=${e.ROLE.join(',')}: instances with separate roles meet through Redis`);
  }
  if (!roles.includes('all') && !e.DATABASE_URL) {
    throw new ConfigError('DATABASE_URL', `is required for ROLE=${e.ROLE.join(',')}: the embedded database serves one process only`);
  }
  const usingDevelopmentSecret = !e.AUTH_JWT_SECRET && !e.AUTH_JWKS_URL;
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    roles,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL,
    redisClusterUrls: e.REDIS_CLUSTER_URLS,
    redisChannelPrefix: e.REDIS_CHANNEL_PREFIX,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    relayPartitions: e.RELAY_PARTITIONS,
    redisBroadcastChannels: e.REDIS_BROADCAST_CHANNELS,
    auth: {
      jwtSecret: e.AUTH_JWT_SECRET ?? (usingDevelopmentSecret ? DEVELOPMENT_JWT_SECRET : undefined),
      jwksUrl: e.AUTH_JWKS_URL,
      issuer: e.AUTH_JWT_ISSUER,
      audience: e.AUTH_JWT_AUDIENCE,
      usingDevelopmentSecret,
    },
    migrateOnStart: e.MIGRATE_ON_START,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT ?? (stdoutIsTTY ? 'pretty' : 'json'),
    databasePoolMax: e.DATABASE_POOL_MAX,
    writes: { concurrency: e.WRITE_CONCURRENCY, maxBatch: e.WRITE_BATCH_MAX, maxQueued: e.WRITE_QUEUE_MAX },
    database: { statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS, connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS },
    limits: { maxBodyBytes: e.MAX_BODY_BYTES, maxQueryDepth: e.MAX_QUERY_DEPTH, maxQueryCost: e.MAX_QUERY_COST },
    websocket: {
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      maxPendingMessages: e.WS_MAX_PENDING_MESSAGES,
      connectionInitTimeoutMs: e.WS_CONNECTION_INIT_TIMEOUT_MS,
      operationsPerSecond: e.WS_OPERATIONS_PER_SECOND,
      maxSubscriptions: e.WS_MAX_SUBSCRIPTIONS,
      maxConnectionsPerUser: e.WS_MAX_CONNECTIONS_PER_USER,
      pingIntervalMs: e.WS_PING_INTERVAL_MS,
    },
    httpOperationsPerSecond: e.HTTP_OPERATIONS_PER_SECOND,
    trustProxy: e.TRUST_PROXY ?? [],
    pollIntervalMs: e.POLL_INTERVAL_MS,
    presenceIntervalMs: e.PRESENCE_INTERVAL_MS,
    graphiql: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
  };
}

/** A production key must be long enough to resist guessing and must not be one published in this repository. */
function checkProductionSecret(secret: string): void {
  // The reason never quotes the secret: the line goes to logs.
  if (EXAMPLE_JWT_SECRETS.has(secret)) {
    throw new ConfigError('AUTH_JWT_SECRET', 'is an example value published in the Parley repository; set a random secret of its own in production');
  }
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < PRODUCTION_MIN_SECRET_BYTES) {
    throw new ConfigError('AUTH_JWT_SECRET', `must be at least ${PRODUCTION_MIN_SECRET_BYTES} bytes of UTF-8 in production (got ${bytes})`);
  }
}

/** `FOO=` in a .env file means "not set", as most tools read it. */
function withoutEmptyValues(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== '')) as Record<
    string,
    string
  >;
}

export function hasRole(config: Pick<Config, 'roles'>, role: Exclude<Role, 'all'>): boolean {
  return config.roles.includes('all') || config.roles.includes(role);
}

/** The Redis the instance uses, as the transport takes it; null without one (every role in one process). */
export function redisEndpoint(config: Pick<Config, 'redisUrl' | 'redisClusterUrls'>): { url: string } | { cluster: string[] } | null {
  if (config.redisClusterUrls) return { cluster: config.redisClusterUrls };
  return config.redisUrl ? { url: config.redisUrl } : null;
}
