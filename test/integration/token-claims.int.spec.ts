import { SignJWT } from 'jose';
import { loadConfig } from '../../src/infrastructure/config/config';
import { issueToken } from '../../src/interfaces/composition/commands';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { errorCodes, graphql } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, TEST_JWT_SECRET, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

/** Resolves with the close of a graphql-ws client's socket; fails if none comes within `timeoutMs`. */
function closeOf(token: string, url: string, timeoutMs = 15_000) {
  let resolveClose!: (close: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (resolveClose = resolve));
  const client = connectClient(url, token, (code, reason) => resolveClose({ code, reason }));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the socket was still open after ${timeoutMs} ms`)), timeoutMs);
  });
  return { client, closed: Promise.race([closed, deadline]).finally(() => clearTimeout(timer)) };
}

const noExpiry = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().sign(new TextEncoder().encode(TEST_JWT_SECRET));

/** DESIGN.md §5 "Identity and access": tokens must expire, and a socket lives no longer than its token. */
describe('token claims and expiry', () => {
  let database: TestDatabase;
  let server: RunningServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  it('closes a WebSocket with 4403 when its token expires, after serving it until then', async () => {
    const { client, closed } = closeOf(await tokenFor('alice', '2s'), server.url);
    try {
      expect(await subscribe(client, '{ me }').count(1)).toEqual(['alice']);
      const close = await closed;
      expect(close.code).toBe(4403);
      expect(close.reason).toMatch(/token expired/);
    } finally {
      await client.dispose();
    }
  });

  it('refuses a token without exp over HTTP (UNAUTHENTICATED) and over WebSocket (4401)', async () => {
    const token = await noExpiry('alice');
    expect(errorCodes(await graphql(server.url, token, '{ me }'))).toEqual(['UNAUTHENTICATED']);
    const { client, closed } = closeOf(token, server.url);
    try {
      expect((await closed).code).toBe(4401);
    } finally {
      await client.dispose();
    }
  });

  describe('with AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE', () => {
    const env = { AUTH_JWT_SECRET: TEST_JWT_SECRET, AUTH_JWT_ISSUER: 'https://issuer.example', AUTH_JWT_AUDIENCE: 'parley' };
    let strict: RunningServer;

    beforeAll(async () => {
      strict = await startTestServer(database.url, { ...env, MIGRATE_ON_START: 'false' });
    });

    afterAll(async () => {
      await strict.stop();
    });

    it('accepts the tokens `parley token` issues in the same environment, which expire', async () => {
      const token = await issueToken(loadConfig(env), 'carol', '5m');
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
      expect(claims).toMatchObject({ sub: 'carol', iss: 'https://issuer.example', aud: 'parley', exp: expect.any(Number) });
      expect((await graphql(strict.url, token, '{ me }')).data).toEqual({ me: 'carol' });
    });

    it('refuses a token without that issuer and audience', async () => {
      expect(errorCodes(await graphql(strict.url, await tokenFor('carol'), '{ me }'))).toEqual(['UNAUTHENTICATED']);
    });
  });
});
