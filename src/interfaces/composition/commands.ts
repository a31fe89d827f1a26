import { signDevelopmentToken } from '../../infrastructure/auth/development-token';
import { loadConfig, type Config } from '../../infrastructure/config/config';
import { createLogger, type Logger } from '../../infrastructure/logging/logger';
import { openDatabase } from '../../infrastructure/persistence/database';
import { startServer, type RunningServer } from './server';

/** What the command line can ask of the composed application; keeps the CLI free of adapters. */
export { loadConfig, createLogger, type Config, type Logger, type RunningServer };

export async function serve(config: Config, logger: Logger): Promise<RunningServer> {
  if (config.auth.usingDevelopmentSecret) {
    logger.warn('AUTH_JWT_SECRET and AUTH_JWKS_URL are unset: using the development secret; never do this in production');
  }
  if (!config.databaseUrl) logger.info({ dataDir: config.dataDir }, 'DATABASE_URL is unset: using embedded PostgreSQL (PGlite)');
  return startServer(config, logger);
}

export async function migrate(config: Config, logger: Logger): Promise<string[]> {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: 1,
    logger: (message) => logger.debug({ component: 'mikro-orm' }, message),
  });
  try {
    return await database.migrate();
  } finally {
    await database.close();
  }
}

export async function issueToken(config: Config, userId: string, ttl: string): Promise<string> {
  if (!config.auth.jwtSecret) {
    throw new Error('cannot sign a token: only AUTH_JWKS_URL is configured (set AUTH_JWT_SECRET to sign HS256 tokens)');
  }
  return signDevelopmentToken(config.auth.jwtSecret, userId, ttl);
}
