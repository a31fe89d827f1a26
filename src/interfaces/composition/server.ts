import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { AccessTokenVerifier, ChatReadModel, Clock } from '../../application';
import { signDevelopmentToken } from '../../infrastructure/auth/development-token';
import { hasRole, type Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import { openDatabase, type Database } from '../../infrastructure/persistence/database';
import { PostgresChatUnitOfWork } from '../../infrastructure/persistence/postgres-chat-unit-of-work.adapter';
import { settlePartitionCount } from '../../infrastructure/persistence/partition-count';
import { asUnavailable } from '../../infrastructure/persistence/postgres-failures';
import { createGraphQLSchema, createGraphQLServer, GRAPHQL_PATH } from '../graphql/create-yoga';
import { RateLimiter } from '../graphql/rate-limit';
import { withLimitedBody } from '../http/body-limit';
import { clientAddressOf } from '../http/client-address';
import { devTokenRoute } from '../http/dev-token';
import { serveFirst } from '../http/graphql-route';
import { WEB_CLIENT_PATH, webClient } from '../http/web-client';
import type { ReadinessCheck } from '../http/readiness';
import { AppModule } from './app.module';
import { nestLogger } from './nest-logger';
import { createTransports, startRealtime, type Realtime } from './realtime';

/** Long enough for a day of trying things; the page asks for a fresh one when the socket says 4403. */
const DEV_TOKEN_TTL = '12h';

export interface RunningServer {
  /** GraphQL over HTTP and WebSocket. */
  url: string;
  /** The web client (DESIGN.md §9). */
  webUrl: string;
  port: number;
  database: Database;
  realtime: Realtime;
  metrics: ParleyMetrics;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** The clock of commands and of typing lapses (a test may make time pass). */
  clock?: Clock;
}

/**
 * Opens the database, applies migrations unless told not to, and serves GraphQL over HTTP and
 * WebSocket, health and metrics on one port, with the relay and projections running beside.
 */
export async function startServer(config: Config, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: config.databasePoolMax,
    statementTimeoutMs: config.database.statementTimeoutMs,
    connectTimeoutMs: config.database.connectTimeoutMs,
    logger: (message) => logger.debug({ component: 'mikro-orm' }, message),
  });
  let migrated = false;
  let started = false;
  let app: NestExpressApplication | null = null;
  const metrics = new ParleyMetrics();
  // Before the commands: setTyping publishes, the presence query reads where receivers keep presence.
  const transports = createTransports(config, logger, metrics);
  let realtimeStarted = false;
  try {
    const readinessChecks: ReadinessCheck[] = [
      { name: 'migrations', check: async () => migrated },
      { name: 'postgres', check: () => database.isReachable() },
      // Until the roles run (they start once PostgreSQL answers), this instance serves nothing it should be sent.
      { name: 'started', check: async () => started },
    ];
    app = await NestFactory.create<NestExpressApplication>(
      AppModule.register({ config, database, metrics, logger, readinessChecks, transports, clock: options.clock }),
      { bodyParser: false, logger: nestLogger(logger), abortOnError: false },
    );
    const schema = createGraphQLSchema();
    const commandBus = app.get(CommandBus);
    const queryBus = app.get(QueryBus);
    const verifier = app.get(AccessTokenVerifier);
    // One bucket per user for HTTP and WebSocket alike, so a socket is no way around the limit.
    const rateLimiter = new RateLimiter(config.httpOperationsPerSecond);
    if (hasRole(config, 'sender')) {
      const yoga = createGraphQLServer({
        schema,
        commandBus,
        queryBus,
        verifier,
        limits: config.limits,
        rateLimiter,
        clientAddress: clientAddressOf(config.trustProxy),
        graphiql: config.graphiql,
        onUnexpectedError: (error) => logger.error({ err: error }, 'unexpected error in a GraphQL operation'),
      });
      serveFirst(app.getHttpServer() as Server, GRAPHQL_PATH, withLimitedBody(config.limits.maxBodyBytes, (request, response) => void yoga(request, response)));
    }
    // Anyone who reaches it can act as anyone: outside production only.
    const jwtSecret = config.auth.jwtSecret;
    if (config.nodeEnv !== 'production' && jwtSecret) {
      app.use(devTokenRoute((userId) => signDevelopmentToken(jwtSecret, userId, DEV_TOKEN_TTL)));
    }
    // Every instance serves the page (DESIGN.md §9): behind one origin, whichever instance answers `/`
    // hands out the same files, and the page's requests go to /graphql like any client's.
    app.use(WEB_CLIENT_PATH, webClient(join(packageRoot(), 'dist', 'web')));
    await app.init();
    // Listening before PostgreSQL answers: /healthz says alive and /readyz says why it is not ready.
    await app.listen(config.port, '0.0.0.0');
    const port = (app.getHttpServer().address() as AddressInfo).port;
    await whenDatabaseAnswers(database, logger, port);
    const nest = app;
    if (config.migrateOnStart) {
      const applied = await migrateWhenReachable(database, logger, port);
      if (applied.length > 0) logger.info({ applied }, 'applied database migrations');
    }
    migrated = true;
    const partitions = await settlePartitionCount(database.orm, config.relayPartitions);
    if (partitions.count !== config.relayPartitions) {
      logger.warn({ configured: config.relayPartitions, inForce: partitions.count }, 'RELAY_PARTITIONS is below the number in force, which never shrinks; using the number in force');
    } else if (partitions.raised) {
      logger.info({ partitions: partitions.count }, 'raised the number of ordering partitions: new chats spread over them, existing chats keep theirs');
    }
    const clock = app.get(Clock);
    const realtime = startRealtime({
      config,
      transports,
      now: () => clock.now().getTime(),
      partitions: partitions.count,
      database,
      unitOfWork: app.get(PostgresChatUnitOfWork),
      readModel: app.get(ChatReadModel),
      verifier,
      commandBus,
      queryBus,
      schema,
      rateLimiter,
      httpServer: app.getHttpServer() as Server,
      logger,
      metrics,
    });
    realtimeStarted = true;
    readinessChecks.push(...realtime.readinessChecks);
    started = true;
    return {
      url: `http://localhost:${port}${GRAPHQL_PATH}`,
      webUrl: `http://localhost:${port}${WEB_CLIENT_PATH}`,
      port,
      database,
      realtime,
      metrics,
      async stop() {
        // Sockets first (clients resume elsewhere), then the relay's batch, then HTTP, then the pool.
        await realtime.stop();
        await nest.close();
        await database.close();
      },
    };
  } catch (error) {
    await app?.close().catch(() => undefined);
    if (!realtimeStarted) await transports.close().catch(() => undefined);
    await database.close();
    throw error;
  }
}

const STARTUP_RETRY_MAX_MS = 10_000;

/**
 * A process started while PostgreSQL is down waits for it, not ready, instead of exiting: an
 * orchestrator that starts everything at once, or a database that restarts, needs no start order.
 */
async function whenDatabaseAnswers(database: Database, logger: Logger, port: number): Promise<void> {
  for (let attempt = 1; !(await database.isReachable()); attempt++) {
    const retryInMs = Math.min(STARTUP_RETRY_MAX_MS, 250 * 2 ** attempt);
    logger.warn({ port, attempt, retryInMs }, 'PostgreSQL does not answer; waiting for it before starting (/readyz says 503 meanwhile)');
    await new Promise((resolve) => setTimeout(resolve, retryInMs));
  }
}

/** Migrations, tried again while the database is unavailable (it may go away between the probe and them). */
async function migrateWhenReachable(database: Database, logger: Logger, port: number): Promise<string[]> {
  for (;;) {
    try {
      return await database.migrate();
    } catch (error) {
      if (!asUnavailable(error)) throw error;
      logger.warn({ err: error, port }, 'PostgreSQL became unavailable while migrating; trying again once it answers');
      await whenDatabaseAnswers(database, logger, port);
    }
  }
}

/** The folder with package.json, from the built `dist/src/…` and from `src/…` under the test runner alike. */
function packageRoot(): string {
  let directory = __dirname;
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`no package.json above ${__dirname}`);
    directory = parent;
  }
  return directory;
}
