import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ok } from '../support/graphql-http';
import { ParleyProcess, REPO_ROOT, runParley } from '../support/parley-process';

const STARTED = /Parley GraphQL: (http:\/\/\S+) \(roles: all\)\n/;
const TOKEN = /Development token[^\n]*\n(\S+)\n/;
const WEB_CLIENT = /Parley web client: (http:\/\/\S+)\n/;
const WEB_CLIENT_AS_DEV_USER = /Open the web client as "dev-user": (http:\/\/\S+)\n/;

/**
 * Each start runs PGlite (PostgreSQL in WebAssembly) and its migrations in a fresh process: CPU-bound, so
 * on a shared 2-core machine that also runs the browser and cluster tests a start can take most of a minute.
 */
const STARTS_TIMEOUT_MS = 180_000;

describe('npm start without DATABASE_URL (embedded PostgreSQL, built server as a child process)', () => {
  let dataDir: string;
  let running: ParleyProcess | null = null;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'parley-embedded-'));
  });

  afterEach(async () => {
    await running?.stop();
    running = null;
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function start(): Promise<{ url: string; token: string }> {
    running = ParleyProcess.start([], { PORT: '0', DATA_DIR: dataDir });
    const [, url] = await running.waitFor(STARTED);
    const [, token] = await running.waitFor(TOKEN);
    return { url: url!, token: token! };
  }

  it('answers a createChat / createMessage / messages round trip with the printed token and keeps it across a restart', async () => {
    // Given a fresh embedded Parley
    const first = await start();

    // When the printed token creates a chat and posts to it
    const { createChat } = await ok(first.url, first.token, 'mutation { createChat(input: { name: "embedded", participantIds: ["bob"] }) { id } }');
    const { createMessage } = await ok(
      first.url,
      first.token,
      'mutation($chatId: ID!) { createMessage(createMessageInput: { chatId: $chatId, content: "survives restarts" }) { id seq } }',
      { chatId: createChat.id },
    );
    const query = 'query($chatId: ID!) { messages(chatId: $chatId) { messages { id seq content } } }';
    expect((await ok(first.url, first.token, query, { chatId: createChat.id })).messages.messages).toEqual([
      { id: createMessage.id, seq: 1, content: 'survives restarts' },
    ]);
    expect(await running!.stop()).toBe(0);

    // Then after a restart on the same data folder, a token from `parley token` reads the same message
    const second = await start();
    const issued = await runParley(['token', 'dev-user', '--ttl', '5m'], {});
    expect(issued.code).toBe(0);
    const token = issued.output.trim().split('\n').pop()!;
    expect((await ok(second.url, token, query, { chatId: createChat.id })).messages.messages).toEqual([
      { id: createMessage.id, seq: 1, content: 'survives restarts' },
    ]);
    const { chats } = await ok(second.url, token, '{ chats { id name } }');
    expect(chats).toEqual([{ id: createChat.id, name: 'embedded' }]);
  }, STARTS_TIMEOUT_MS);

  it('serves /healthz, a /readyz that reports the database and migrations, and the web client it names', async () => {
    const { url } = await start();
    const base = url.replace(/\/graphql$/, '');
    const [, webUrl] = await running!.waitFor(WEB_CLIENT);
    const [, devUserUrl] = await running!.waitFor(WEB_CLIENT_AS_DEV_USER);
    const [, token] = await running!.waitFor(TOKEN);
    expect(webUrl).toBe(`${base}/`);
    expect(devUserUrl).toBe(`${base}/#token=${token}`);
    const page = await fetch(webUrl!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="app">');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { migrations: true, postgres: true, started: true } });
  }, STARTS_TIMEOUT_MS);

  it('stops at start with one line naming a malformed variable', async () => {
    const failed = await runParley(['serve'], { PORT: 'not-a-port', DATA_DIR: dataDir });
    expect(failed.code).toBe(2);
    expect(failed.output.trim().split('\n')).toEqual([expect.stringMatching(/^parley: invalid configuration: PORT /)]);
  });

  it('refuses a token command without a user id', async () => {
    const failed = await runParley(['token'], {});
    expect(failed.code).toBe(2);
    expect(failed.output).toMatch(/missing required argument 'userId'/);
  });

  it('prints its version with --version and -V, and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const printed = await runParley([flag], {});
      expect(printed).toEqual({ code: 0, output: `${version}\n` });
    }
  });
});
