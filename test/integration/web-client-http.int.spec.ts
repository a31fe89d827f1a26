import { randomBytes } from 'node:crypto';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, TEST_JWT_SECRET } from '../support/test-server';

/** The HTTP side of the web client (DESIGN.md §6, §9): the page, the development sign-in, GraphiQL. */
describe('web client over HTTP: the page at /, POST /dev/token, GraphiQL from the package', () => {
  let database: TestDatabase;
  let server: RunningServer;
  const running: RunningServer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
  });

  afterAll(async () => {
    for (const instance of running) await instance.stop();
    await server.stop();
    await database.drop();
  });

  const base = (instance: RunningServer) => instance.webUrl.replace(/\/$/, '');
  const devToken = (instance: RunningServer, body: string, contentType = 'application/json') =>
    fetch(`${base(instance)}/dev/token`, { method: 'POST', headers: { 'content-type': contentType }, body });

  it('serves the built page at / from the package, with a policy that allows only its own origin', async () => {
    const page = await fetch(server.webUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const html = await page.text();
    expect(html).toContain('<script src="app.js" defer></script>');
    expect(html).not.toMatch(/(src|href)="https?:/);
    const script = await fetch(`${base(server)}/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    // The routes beside it are untouched
    expect((await fetch(`${base(server)}/healthz`)).status).toBe(200);
    expect((await fetch(`${base(server)}/no-such-file.js`)).status).toBe(404);
  });

  it('issues a development token that the API takes as that user', async () => {
    const response = await devToken(server, JSON.stringify({ userId: 'alice' }));
    expect(response.status).toBe(200);
    const { token, userId } = (await response.json()) as { token: string; userId: string };
    expect(userId).toBe('alice');
    expect(await ok(server.url, token, '{ me }')).toEqual({ me: 'alice' });
    const longest = 'x'.repeat(128);
    const { token: long } = (await (await devToken(server, JSON.stringify({ userId: longest }))).json()) as { token: string };
    expect(await ok(server.url, long, '{ me }')).toEqual({ me: longest });
  });

  it.each([
    ['an empty user id', JSON.stringify({ userId: '' }), /1\.\.128 characters/],
    ['a user id over 128 characters', JSON.stringify({ userId: 'x'.repeat(129) }), /1\.\.128 characters \(got 129\)/],
    ['a user id of one character over 512 bytes', JSON.stringify({ userId: 'a' + '\u0301'.repeat(300) }), /at most 512 bytes of UTF-8 \(got 601\)/],
    ['a user id with NUL', JSON.stringify({ userId: 'a\u0000b' }), /NUL/],
    ['a user id with an unpaired surrogate', '{"userId":"a\\ud800"}', /unpaired surrogate/],
    ['a user id with surrounding spaces', JSON.stringify({ userId: ' alice' }), /white space/],
    ['a user id that is not a string', JSON.stringify({ userId: 42 }), /must be a string/],
    ['no user id', JSON.stringify({}), /must be a string/],
    ['a body that is not JSON', 'userId=alice', /must be JSON/],
  ])('refuses %s with 400 BAD_USER_INPUT', async (_, body, message) => {
    const response = await devToken(server, body);
    expect(response.status).toBe(400);
    const { errors } = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(errors).toEqual([{ message: expect.stringMatching(message), extensions: { code: 'BAD_USER_INPUT' } }]);
  });

  it('answers 405 to anything but POST, which the page reads as "development sign-in is here"', async () => {
    const response = await fetch(`${base(server)}/dev/token`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('serves GraphiQL with its scripts inline: no script or stylesheet from another origin', async () => {
    const response = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('<title>Parley GraphiQL</title>');
    const tags = html.match(/<(script|link)\b[^>]*>/g) ?? [];
    expect(tags.length).toBeGreaterThan(0);
    for (const tag of tags) expect(tag).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//);
  });

  it('has no development sign-in in production, and still serves the page there', async () => {
    const production = await startTestServer(database.url, { NODE_ENV: 'production', AUTH_JWT_SECRET: `${TEST_JWT_SECRET}-production` });
    running.push(production);
    expect((await devToken(production, JSON.stringify({ userId: 'alice' }))).status).toBe(404);
    expect((await fetch(`${base(production)}/dev/token`)).status).toBe(404);
    expect((await fetch(production.webUrl)).status).toBe(200);
  });

  it('serves the page on an instance without the sender role too', async () => {
    const receiver = await startTestServer(database.url, {
      ROLE: 'receiver',
      REDIS_URL: process.env.TEST_REDIS_URL!,
      REDIS_CHANNEL_PREFIX: `web-${randomBytes(4).toString('hex')}:`,
      MIGRATE_ON_START: 'false',
    });
    running.push(receiver);
    const page = await fetch(receiver.webUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="app">');
  });
});
