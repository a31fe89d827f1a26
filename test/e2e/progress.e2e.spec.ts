import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, runParley } from '../support/parley-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const MIGRATIONS = /^applied: (Migration\w+, )+Migration\w+$/m;

/**
 * README "Operations", progress of long commands, on the built `parley`: `migrate` of a new database
 * (every migration, one step each) draws a bar with rate and ETA on a terminal and prints plain lines
 * to a pipe. The command's answer stays alone on stdout either way.
 */
describe('parley migrate: progress by whether stderr is a terminal', () => {
  const databases: TestDatabase[] = [];

  beforeAll(() => {
    if (!existsSync(join(REPO_ROOT, 'dist/src/main.js'))) throw new Error('dist is missing: run npm run build first');
  });

  afterAll(async () => {
    await Promise.all(databases.map((database) => database.drop()));
  });

  async function newDatabase(): Promise<TestDatabase> {
    const database = await createTestDatabase();
    databases.push(database);
    return database;
  }

  it('prints periodic lines with count, rate and ETA to a pipe, never a control character', async () => {
    const database = await newDatabase();
    // A line every 10 ms: applying every migration to a new database takes far longer than that.
    const run = await runParley(['migrate'], { DATABASE_URL: database.url, PROGRESS_INTERVAL_MS: '10' });
    expect(run.code).toBe(0);
    expect(run.output).toMatch(MIGRATIONS);
    const lines = run.output.split('\n').filter((line) => line.startsWith('migrate: '));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^migrate: \d+(\/\d+ \(\d+%\))? migrations, [\d.]+\/s, ETA (\d+s|unknown)$/);
    expect(lines.at(-1)).toMatch(/^migrate: finished \d+ migrations in \d+s \([\d.]+\/s\)$/);
    expect(run.output).not.toMatch(/[\u001b\r]/);
  }, 60_000);

  it('refuses a malformed PROGRESS_INTERVAL_MS with exit code 2, before touching the database', async () => {
    const database = await newDatabase();
    const run = await runParley(['migrate'], { DATABASE_URL: database.url, PROGRESS_INTERVAL_MS: 'often' });
    expect(run.code).toBe(2);
    expect(run.output).toBe('parley: invalid configuration: PROGRESS_INTERVAL_MS must be a whole number of milliseconds, 10..3600000 (got "often")\n');
    expect((await runParley(['migrate'], { DATABASE_URL: database.url })).output).toMatch(MIGRATIONS);
  }, 60_000);

  // `script` (util-linux) runs the command on a pseudo-terminal, as an operator's shell does.
  const onTerminal = existsSync('/usr/bin/script') ? it : it.skip;
  onTerminal('draws a bar with the percentage, the rate and the ETA on a terminal', async () => {
    const database = await newDatabase();
    const outputFile = join(tmpdir(), `parley-progress-tty-${process.pid}.out`);
    const terminal = spawn('/usr/bin/script', ['-qfec', `exec ${process.execPath} bin/parley.js migrate`, outputFile], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'warn', TERM: 'xterm-256color', PROGRESS_INTERVAL_MS: '' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    try {
      const [code] = await once(terminal, 'exit');
      expect(code).toBe(0);
      const output = readFileSync(outputFile, 'utf8');
      // Drawn in place: cursor movements, no line per step.
      expect(output).toContain('\u001b[');
      const plain = output.replace(/\u001b(\[[0-9;?]*[a-zA-Z]|[78])/g, '\n').replace(/\r/g, '\n');
      expect(plain).toMatch(/^migrate \[█+\] 100% \| \d+\/\d+ migrations \| [\d.]+\/s \| ETA 0s$/m);
      expect(plain).toMatch(/^migrate \[[█░]+\] \d+% \| \d+\/\d+ migrations \| [\d.]+\/s \| ETA (\d+s|unknown)$/m);
      expect(plain).not.toMatch(/^migrate: /m);
      expect(plain).toMatch(MIGRATIONS);
    } finally {
      if (terminal.exitCode === null) terminal.kill('SIGKILL');
      rmSync(outputFile, { force: true });
    }
  }, 60_000);
});
