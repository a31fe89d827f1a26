import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';
import { AccessTokenVerifier } from '../../application';
import type { Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import { openDatabase, type Database } from '../../infrastructure/persistence/database';
import { createGraphQLServer, GRAPHQL_PATH } from '../graphql/create-yoga';
import { bodyErrors, limitedBody } from '../http/body-limit';
import { AppModule } from './app.module';
import { nestLogger } from './nest-logger';

export interface RunningServer {
  url: string;
  port: number;
  database: Database;
  stop(): Promise<void>;
}

/** Opens the database, applies migrations unless told not to, and serves GraphQL and health on one port. */
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
    const app = await NestFactory.create<NestExpressApplication>(
      AppModule.register({
        config,
        database,
        readinessChecks: [
          { name: 'migrations', check: async () => migrated },
          { name: 'postgres', check: () => database.isReachable() },
        ],
      }),
      { bodyParser: false, logger: nestLogger(logger), abortOnError: false },
    );
    const yoga = createGraphQLServer({
      commandBus: app.get(CommandBus),
      queryBus: app.get(QueryBus),
      verifier: app.get(AccessTokenVerifier),
      limits: config.limits,
      graphiql: config.graphiql,
      onUnexpectedError: (error) => logger.error({ err: error }, 'unexpected error in a GraphQL operation'),
    });
    app.use(GRAPHQL_PATH, limitedBody(config.limits.maxBodyBytes), bodyErrors(config.limits.maxBodyBytes), yoga);
    await app.listen(config.port, '0.0.0.0');
    const port = (app.getHttpServer().address() as AddressInfo).port;
    return {
      url: `http://localhost:${port}${GRAPHQL_PATH}`,
      port,
      database,
      async stop() {
        await app.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
