import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import { ParleyProcess, REPO_ROOT, runParley } from '../support/parley-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const LISTENING = /Parley GraphQL: http:\/\/\S+ \(roles: all\)/;

/**
 * LOG_FORMAT (README "Configuration"): readable lines for a person at a terminal, JSON lines for anything
 * else, checked on the built `parley` as a child process. Each run also stops the server with SIGTERM: the
 * "shutting down" line is written just before `process.exit`, so seeing it proves nothing is lost on exit.
 */
describe('parley serve: log lines by LOG_FORMAT and by whether stdout is a terminal', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    if (!existsSync(join(REPO_ROOT, 'dist/src/main.js'))) throw new Error('dist is missing: run npm run build first');
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  /** Serves until it is listening, stops it with SIGTERM, and answers its exit code and output. */
  async function serveOnce(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
    const server = ParleyProcess.start(['serve', '--role', 'all', '--port', '0'], { DATABASE_URL: database.url, LOG_LEVEL: 'info', ...env }, 'bin');
    try {
      await server.waitFor(LISTENING);
    } finally {
      await server.stop('SIGTERM');
    }
    return { code: await server.exited, output: server.log };
  }

  /** The lines of the output that are log records: everything but the URLs printed for the person. */
  function logLines(output: string): string[] {
    return output.split('\n').filter((line) => line.trim() !== '' && !/^Parley (GraphQL|web client):/.test(line));
  }

  it('writes JSON lines when stdout is a pipe and LOG_FORMAT is unset', async () => {
    const { code, output } = await serveOnce({});
    expect(code).toBe(0);
    const records = logLines(output).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toContainEqual(expect.objectContaining({ level: 30, msg: 'parley is listening', service: 'parley', roles: ['all'] }));
    expect(records.at(-1)).toEqual(expect.objectContaining({ msg: 'shutting down', signal: 'SIGTERM' }));
  }, 120_000);

  it('writes readable lines with LOG_FORMAT=pretty, even to a pipe', async () => {
    const { code, output } = await serveOnce({ LOG_FORMAT: 'pretty' });
    expect(code).toBe(0);
    const lines = logLines(output);
    expect(lines.some((line) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: parley is listening$/.test(line))).toBe(true);
    // Every line is a record's time, level and message, or one of its fields indented below it: no JSON.
    for (const line of lines) expect(line).toMatch(/^(\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S| {4})/);
    expect(lines.at(-2)).toMatch(/INFO: shutting down$/);
    expect(lines.at(-1)).toBe('    signal: "SIGTERM"');
  }, 120_000);

  it('writes JSON lines with LOG_FORMAT=json', async () => {
    const { code, output } = await serveOnce({ LOG_FORMAT: 'json' });
    expect(code).toBe(0);
    expect(logLines(output).map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('parley is listening');
  }, 120_000);

  it('refuses LOG_FORMAT=nonsense with exit code 2 and a line naming the variable and its values', async () => {
    const { code, output } = await runParley(['serve', '--port', '0'], { DATABASE_URL: database.url, LOG_FORMAT: 'nonsense' });
    expect(code).toBe(2);
    expect(output).toMatch(/^parley: invalid configuration: LOG_FORMAT .*"json".*"pretty".*\(got "nonsense"\)\n$/);
  }, 60_000);

  // `script` (util-linux) runs the command on a pseudo-terminal, as `npm start` in a terminal does.
  const onTerminal = existsSync('/usr/bin/script') ? it : it.skip;
  onTerminal('writes readable, coloured lines by default when stdout is a terminal', async () => {
    const outputFile = join(tmpdir(), `parley-log-format-tty-${process.pid}.out`);
    const command = `exec ${process.execPath} bin/parley.js serve --role all --port 0`;
    // The output goes to a file: script writes what the terminal shows there as it comes.
    // LOG_FORMAT empty counts as unset; TERM names a terminal that shows colours, and NO_COLOR, even empty, would turn them off.
    const { NO_COLOR: _noColor, ...env } = process.env;
    const terminal = spawn('/usr/bin/script', ['-qfec', command, outputFile], {
      cwd: REPO_ROOT,
      env: { ...env, DATABASE_URL: database.url, LOG_LEVEL: 'info', LOG_FORMAT: '', NODE_ENV: 'development', TERM: 'xterm-256color' },
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    const exited = once(terminal, 'exit');
    try {
      const read = () => (existsSync(outputFile) ? readFileSync(outputFile, 'utf8') : '');
      await eventuallyRead(read, LISTENING, exited);
      // Ctrl-C on the terminal: SIGINT to the server, which runs in the foreground of its own session.
      terminal.stdin!.write('\u0003');
      const [code] = await exited;
      expect(code).toBe(0);
      const output = read().replace(/\r/g, '');
      expect(output).toContain('\u001b[');
      const plain = output.replace(/\u001b\[[0-9;]*m/g, '');
      expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: parley is listening$/m);
      expect(plain).not.toMatch(/^\{/m);
      expect(plain).toMatch(/INFO: shutting down\n {4}signal: "SIGINT"\n/);
    } finally {
      if (terminal.exitCode === null) terminal.kill('SIGKILL');
      await exited.catch(() => undefined);
      rmSync(outputFile, { force: true });
    }
  }, 120_000);
});

/** Waits for the file to show the pattern, by watching it; fails if the process exits first. */
async function eventuallyRead(read: () => string, pattern: RegExp, exited: Promise<unknown>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  await eventually(() => {
    if (gone && !pattern.test(read())) throw new Error(`the terminal's process exited before printing ${pattern}:\n${read()}`);
    expect(read()).toMatch(pattern);
  }, 60_000);
}
