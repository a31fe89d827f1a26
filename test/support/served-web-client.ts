import type { RunningServer } from '../../src/interfaces/composition/server';
import { TcpProxy } from './tcp-proxy';
import { createTestDatabase, type TestDatabase } from './test-database';
import { startTestServer } from './test-server';
import { requireBuiltWebClient, WebPages } from './web-pages';

/**
 * What a browser test of the web client runs against: one server on a database of its own, a proxy in
 * front of it that the test can cut (`proxy.url(server.webUrl)` for a page that should lose its
 * socket), and Chromium. `start` in beforeAll, `stop` in afterAll, which stops whatever did start.
 */
export class ServedWebClient {
  database!: TestDatabase;
  server!: RunningServer;
  proxy!: TcpProxy;
  pages!: WebPages;

  async start(): Promise<void> {
    requireBuiltWebClient();
    this.database = await createTestDatabase();
    this.server = await startTestServer(this.database.url, { HTTP_OPERATIONS_PER_SECOND: '1000' });
    this.proxy = await TcpProxy.start(this.server.port);
    this.pages = await WebPages.launch();
  }

  async stop(): Promise<void> {
    await this.pages?.close();
    await this.proxy?.stop();
    await this.server?.stop();
    await this.database?.drop();
  }
}
