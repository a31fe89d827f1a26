import 'dotenv/config';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import {
  clusterStatus,
  ConfigError,
  createLogger,
  issueToken,
  loadConfig,
  migrate,
  pruneOutboxNow,
  rebuildProjections,
  replayOutboxRange,
  serve,
  type Config,
  type ProgressCallback,
} from '../composition/commands';
import { userIdProblem } from '../../domain';
import { DEFAULT_PROGRESS_INTERVAL_MS, startProgress, type Progress } from './progress';
import { statusReport } from './status-report';

const TTL_PATTERN = /^\d+\s*(s|m|h|d|w)$/;

/** `parley …` (DESIGN.md §6). Exit codes: 0 ok, 1 failure, 2 bad usage or configuration. */
export async function runCli(argv: string[]): Promise<void> {
  const program = new Command('parley')
    .description('Parley: a multi-instance real-time chat backend')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve')
    .description('run an instance with the given roles against DATABASE_URL and REDIS_URL')
    .option('--role <roles>', 'sender, receiver, relay or all (comma-separated for several)')
    .option('--port <port>', 'HTTP and WebSocket port', parsePort)
    .action(async (options: { role?: string; port?: number }) => {
      const config = configFrom({ ROLE: options.role, PORT: options.port?.toString() });
      await runServer(config, { printToken: false });
    });

  program
    .command('start', { hidden: true })
    .description('what `npm start` runs: serve every role, printing the URL and a development token')
    .action(async () => {
      await runServer(configFrom({}), { printToken: true });
    });

  program
    .command('migrate')
    .description('apply database migrations')
    .action(async () => {
      const config = configFrom({});
      const applied = await withProgress('migrate', 'migrations', (report) => migrate(config, createLogger(config), report));
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
    });

  const outbox = program.command('outbox').description('the outbox of published events');
  outbox
    .command('replay')
    .description('publish a range of the outbox to Redis again; receivers that had them drop them')
    .requiredOption('--from <cursor|time>', 'first row: an event cursor ("<txid>.<position>") or an ISO-8601 time')
    .option('--to <cursor|time>', 'last row, same forms (default: everything committed)')
    .action(async (options: { from: string; to?: string }) => {
      const config = configFrom({});
      const published = await withProgress('outbox replay', 'rows', (report) =>
        replayOutboxRange(config, createLogger(config), options.from, options.to, report),
      );
      process.stdout.write(`re-published ${published} outbox rows\n`);
    });

  outbox
    .command('prune')
    .description('delete published outbox rows older than OUTBOX_RETENTION now, as relays do in the background; events stay')
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .action(async (options: { dryRun?: boolean }) => {
      const config = configFrom({});
      const dryRun = options.dryRun === true;
      const pruned = await withProgress(dryRun ? 'outbox prune (dry run)' : 'outbox prune', 'rows', (report) =>
        pruneOutboxNow(config, createLogger(config), { dryRun, onProgress: report }),
      );
      if (!pruned) {
        process.stderr.write('parley: another pruner is at work (a relay\'s, or another `outbox prune`); nothing was done\n');
        process.exit(1);
      }
      const { summary, retention } = pruned;
      const verb = dryRun ? 'would prune' : 'pruned';
      process.stdout.write(
        `${verb} ${summary.deleted} outbox rows older than ${retention} in ${summary.partitions} partitions; ` +
          `kept ${summary.keptNewest} (each chat's newest) and ${summary.unpublished} not yet published\n`,
      );
    });

  const projections = program.command('projections').description('read models kept from the event store');
  projections
    .command('rebuild')
    .description('rebuild read models from the event store; safe while the service runs')
    .argument('[names...]', 'projections to rebuild (default: all): read-models (chats, members and read marks, messages, receipts; unread counts follow from them)')
    .action(async (names: string[]) => {
      const config = configFrom({});
      const intervalMs = progressIntervalMs();
      // One display per projection, each ended when the next one starts.
      let current: Progress | null = null;
      const progressOf = (name: string) => {
        current?.finish();
        current = startProgress({ label: `projections rebuild ${name}`, unit: 'events', intervalMs });
        return current.report;
      };
      const replayed = await rebuildProjections(config, createLogger(config), names, progressOf).finally(() => current?.finish());
      for (const [name, events] of Object.entries(replayed)) process.stdout.write(`rebuilt ${name} from ${events} events\n`);
    });

  program
    .command('status')
    .description('relay partitions (leader, epoch, lag), live receivers and the outbox, read from PostgreSQL and Redis')
    .option('--json', 'print one JSON document instead of tables')
    .action(async (options: { json?: boolean }) => {
      const config = configFrom({});
      const status = await clusterStatus(config, createLogger(config));
      process.stdout.write(options.json ? `${JSON.stringify(status, null, 2)}\n` : statusReport(status));
    });

  program
    .command('token')
    .description('print a signed token for development; the token alone is the last line')
    .argument('<userId>', 'the user id (the sub claim)', parseUserId)
    .option('--ttl <duration>', 'lifetime such as 30m, 1h, 7d', parseTtl, '1h')
    .action(async (userId: string, options: { ttl: string }) => {
      process.stdout.write(`${await issueToken(configFrom({}), userId, options.ttl)}\n`);
    });

  try {
    await program.parseAsync(argv);
  } catch (error) {
    exitWith(error);
  }
}

async function runServer(config: Config, options: { printToken: boolean }): Promise<void> {
  const logger = createLogger(config, { roles: config.roles });
  const server = await serve(config, logger);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown took longer than 15 s; exiting');
      process.exit(1);
    }, 15_000).unref();
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  logger.info({ url: server.url, roles: config.roles }, 'parley is listening');
  process.stdout.write(`\nParley GraphQL: ${server.url} (roles: ${config.roles.join(', ')})\n`);
  process.stdout.write(`Parley web client: ${server.webUrl}\n`);
  if (options.printToken && config.nodeEnv !== 'production' && config.auth.jwtSecret) {
    const token = await issueToken(config, 'dev-user', '24h');
    process.stdout.write(`Development token for user "dev-user" (24h; more with: npx parley token <userId>):\n${token}\n`);
    process.stdout.write(`Open the web client as "dev-user": ${server.webUrl}#token=${token}\n\n`);
  }
}

/** The version in package.json, found upwards from here: the file runs from src/ under tests and from dist/src/ when built. */
function packageVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (manifest.name === 'parley' && manifest.version) return manifest.version;
  }
  return 'unknown';
}

/**
 * Runs an operation with its progress on stderr (progress.ts): a bar on a terminal, a line every
 * PROGRESS_INTERVAL_MS otherwise. stdout keeps the command's answer alone, for scripts.
 */
async function withProgress<T>(label: string, unit: string, work: (report: ProgressCallback) => Promise<T>): Promise<T> {
  const progress = startProgress({ label, unit, intervalMs: progressIntervalMs() });
  try {
    return await work(progress.report);
  } finally {
    progress.finish();
  }
}

/** PROGRESS_INTERVAL_MS: how often a long command prints a progress line when stderr is not a terminal. */
function progressIntervalMs(): number {
  const value = process.env.PROGRESS_INTERVAL_MS;
  if (value === undefined || value === '') return DEFAULT_PROGRESS_INTERVAL_MS;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms < 10 || ms > 3_600_000) throw new ConfigError('PROGRESS_INTERVAL_MS', `must be a whole number of milliseconds, 10..3600000 (got "${value}")`);
  return ms;
}

function configFrom(overrides: Record<string, string | undefined>): Config {
  const env = { ...process.env };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) env[key] = value;
  return loadConfig(env);
}

function exitWith(error: unknown): never {
  const commanderCode = (error as { code?: string }).code;
  if (commanderCode?.startsWith('commander.')) {
    const helpOrVersion = commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version';
    process.exit(helpOrVersion ? 0 : 2);
  }
  const name = (error as { name?: string }).name;
  process.stderr.write(`parley: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(name === 'ConfigError' || name === 'UsageError' ? 2 : 1);
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('must be 0..65535');
  return port;
}

function parseUserId(value: string): string {
  // The rules of every user id (DESIGN.md §5): a token the server would refuse is never printed.
  const problem = userIdProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

function parseTtl(value: string): string {
  if (!TTL_PATTERN.test(value) || /^0+\s*[a-z]$/.test(value)) {
    throw new InvalidArgumentError('must be a positive number and a unit: s, m, h, d or w (e.g. 1h)');
  }
  return value.replace(/\s+/g, '');
}
