import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * PostgreSQL compiled to WebAssembly (PGlite), in this process, with its data in a folder so it survives
 * restarts, exposed on a loopback socket so the same driver and SQL serve both modes.
 * PGlite runs one query at a time and an open transaction blocks every other connection, so the
 * pool in front of it must not be larger than `maxConnections` (see STACK.md).
 */
export interface EmbeddedPostgres {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export const EMBEDDED_MAX_CONNECTIONS = 1;

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: EMBEDDED_MAX_CONNECTIONS });
  await server.start();
  const address = server.getServerConn();
  return {
    url: `postgresql://postgres@${address}/postgres?sslmode=disable`,
    dataDir: dir,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
