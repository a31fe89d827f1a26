import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

const run = promisify(execFile);
const root = resolve(__dirname, '..', '..');

/** What the scratch project runs, once as CommonJS and once as an ES module: a subscription that resumes after a cursor. */
const SCRIPT = (load: string) => `${load}
const client = createResumingClient({
  url: process.env.WS_URL,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: 'Bearer ' + process.env.TOKEN },
});
client.subscribe(
  { query: 'subscription($c: ID!, $after: String) { messageAdded(chatId: $c, after: $after) { content cursor } }', variables: { c: process.env.CHAT, after: process.env.AFTER } },
  {
    next: ({ data }) => {
      console.log(JSON.stringify({ content: data.messageAdded.content, ordered: compareCursors(process.env.AFTER, data.messageAdded.cursor) }));
      void client.dispose();
    },
    error: (error) => { console.error(error); process.exit(1); },
    complete: () => undefined,
  },
);
`;

/**
 * The client library as a package: built (ESM, CommonJS, types), packed with `npm pack`, installed
 * from the tarball into a scratch project without the registry, and used from plain Node.js by
 * `require` and by `import` against a running server. graphql-ws, its peer, comes from this
 * repository's node_modules, as an application's own copy would.
 */
describe('the client package', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let scratch: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    scratch = await mkdtemp(join(tmpdir(), 'parley-client-package-'));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
    await server.stop();
    await database.drop();
  });

  it('packs its built files only, installs from the tarball and works from require and import', async () => {
    // Only `exports` leads to dist/: with a `main` or `types`, this repository's own `../../client` imports
    // (tests, web/, tsc) would resolve to whatever stale build lies in client/dist instead of the sources.
    const manifest = JSON.parse(await readFile(join(root, 'client', 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(manifest).filter((key) => ['main', 'module', 'types', 'typings', 'browser'].includes(key))).toEqual([]);
    await run(process.execPath, [join(root, 'scripts', 'build-client.js')], { cwd: root });
    const packed = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: join(root, 'client') })).stdout) as [{ filename: string; files: { path: string }[] }];
    const files = packed[0].files.map((file) => file.path).sort();
    expect(files).toEqual(expect.arrayContaining(['package.json', 'dist/index.cjs', 'dist/index.mjs', 'dist/types/index.d.ts', 'dist/types/resuming-client.d.ts']));
    expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);

    await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }));
    // Peers are not installed (--legacy-peer-deps), nothing is fetched (--offline): they are linked below.
    await run('npm', ['install', '--offline', '--legacy-peer-deps', '--ignore-scripts', '--no-audit', '--no-fund', join(scratch, packed[0].filename)], { cwd: scratch });
    for (const peer of ['graphql-ws', 'graphql', 'ws']) await symlink(join(root, 'node_modules', peer), join(scratch, 'node_modules', peer), 'dir');

    const alice = await tokenFor('alice');
    const chatId = (await ok(server.url, alice, 'mutation { createChat(input: { name: "package", participantIds: ["bob"] }) { id } }')).createChat.id as string;
    const after = (await ok(server.url, alice, '{ head }')).head as string;
    await ok(server.url, alice, 'mutation($c: ID!) { createMessage(createMessageInput: { chatId: $c, content: "from the tarball" }) { seq } }', { c: chatId });

    await writeFile(join(scratch, 'use.cjs'), SCRIPT("const { createResumingClient, compareCursors } = require('@parley/client');\nconst WebSocket = require('ws');"));
    await writeFile(join(scratch, 'use.mjs'), SCRIPT("import { createResumingClient, compareCursors } from '@parley/client';\nimport WebSocket from 'ws';"));
    const env = { ...process.env, WS_URL: server.url.replace(/^http/, 'ws'), TOKEN: await tokenFor('bob'), CHAT: chatId, AFTER: after };
    for (const script of ['use.cjs', 'use.mjs']) {
      const { stdout } = await run(process.execPath, [script], { cwd: scratch, env, timeout: 15_000 });
      expect(JSON.parse(stdout)).toEqual({ content: 'from the tarball', ordered: -1 });
    }

    // The types: an application's TypeScript finds them through the package's exports, from CommonJS and from an ES module.
    const check = "import { createResumingClient, type ResumingClientOptions } from '@parley/client';\nconst options: ResumingClientOptions = { url: 'ws://localhost:4000/graphql' };\nexport const client = createResumingClient(options);\nexport const unsubscribe: () => void = client.subscribe({ query: '{ me }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });\n";
    await writeFile(join(scratch, 'check.ts'), check);
    await writeFile(join(scratch, 'check.mts'), check);
    await run(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'ES2022,DOM', 'check.ts', 'check.mts'], { cwd: scratch });
  }, 60_000);
});
