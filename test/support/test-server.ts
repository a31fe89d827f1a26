import { signDevelopmentToken } from '../../src/infrastructure/auth/development-token';
import { loadConfig } from '../../src/infrastructure/config/config';
import { createLogger } from '../../src/infrastructure/logging/logger';
import { startServer, type RunningServer, type ServerOptions } from '../../src/interfaces/composition/server';

export const TEST_JWT_SECRET = 'parley-test-secret-0123456789abcdef';

/** An in-process Parley on an ephemeral port against the given database. */
export async function startTestServer(databaseUrl: string, env: Record<string, string> = {}, options: ServerOptions = {}): Promise<RunningServer> {
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    DATABASE_URL: databaseUrl,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
  return startServer(config, createLogger(config), options);
}

export function tokenFor(userId: string, ttl = '1h'): Promise<string> {
  return signDevelopmentToken(TEST_JWT_SECRET, userId, ttl);
}
