import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { AccessTokenVerifier, ChatReadModel } from '../../application';
import { signDevelopmentToken } from '../../infrastructure/auth/development-token';
import { hasRole, type Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import { openDatabase, type Database } from '../../infrastructure/persistence/database';
import { PostgresChatUnitOfWork } from '../../infrastructure/persistence/postgres-chat-unit-of-work.adapter';
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
import { startRealtime, type Realtime } from './realtime';

/** Long enough for a day of trying things; the page asks for a fresh one when the socket says 4401. */
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

/**
 * Opens the database, applies migrations unless told not to, and serves GraphQL over HTTP and
 * WebSocket, health and metrics on one port, with the relay and projections running beside.
 */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: config.databasePoolMax,
    logger: (message) => logger.debug({ component: 'mikro-orm' }, message),
  });
  let migrated = !config.migrateOnStart;
  try {
    if (config.migrateOnStart) {
      const applied = await database.migrate();
      if (applied.length > 0) logger.info({ applied }, 'applied database migrations');
      migrated = true;
    }
    const metrics = new ParleyMetrics();
    const readinessChecks: ReadinessCheck[] = [
      { name: 'migrations', check: async () => migrated },
      { name: 'postgres', check: () => database.isReachable() },
    ];
    const app = await NestFactory.create<NestExpressApplication>(
      AppModule.register({ config, database, metrics, readinessChecks }),
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
    const realtime = startRealtime({
      config,
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
    readinessChecks.push(...realtime.readinessChecks);
    await app.listen(config.port, '0.0.0.0');
    const port = (app.getHttpServer().address() as AddressInfo).port;
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
        await app.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
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
