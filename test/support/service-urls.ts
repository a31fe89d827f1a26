import { Socket } from 'node:net';

/**
 * Where the integration and e2e tests find PostgreSQL and Redis (DESIGN.md §7): TEST_DATABASE_URL /
 * TEST_REDIS_URL when set; else servers answering on the default local ports; else testcontainers;
 * else one line saying what to set.
 */
export const LOCAL_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

export function answers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

export function serverUrlOf(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
