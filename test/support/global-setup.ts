import { answers, LOCAL_DATABASE_URL, LOCAL_REDIS_URL } from './service-urls';

type Stoppable = { stop(): Promise<unknown> };
const started: Stoppable[] = [];

/** Resolves TEST_DATABASE_URL and TEST_REDIS_URL once for every worker (workers inherit process.env). */
export default async function globalSetup(): Promise<void> {
  process.env.TEST_DATABASE_URL ??= await findPostgres();
  process.env.TEST_REDIS_URL ??= await findRedis();
  (globalThis as { __parleyContainers?: Stoppable[] }).__parleyContainers = started;
}

async function findPostgres(): Promise<string> {
  if (await answers('127.0.0.1', 5432)) return LOCAL_DATABASE_URL;
  try {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:15-alpine').start();
    started.push(container);
    return container.getConnectionUri();
  } catch (error) {
    throw new Error(
      `No PostgreSQL for the tests: set TEST_DATABASE_URL (e.g. ${LOCAL_DATABASE_URL}), run one on 127.0.0.1:5432, or start Docker (${(error as Error).message})`,
    );
  }
}

async function findRedis(): Promise<string> {
  if (await answers('127.0.0.1', 6379)) return LOCAL_REDIS_URL;
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine').start();
    started.push(container);
    return container.getConnectionUrl();
  } catch (error) {
    throw new Error(
      `No Redis for the tests: set TEST_REDIS_URL (e.g. ${LOCAL_REDIS_URL}), run one on 127.0.0.1:6379, or start Docker (${(error as Error).message})`,
    );
  }
}
