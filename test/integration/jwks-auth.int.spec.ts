import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { errorCodes, graphql } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer } from '../support/test-server';

describe('identity from AUTH_JWKS_URL (RS256)', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let jwks: Server;
  let trusted: KeyLike;
  let stranger: KeyLike;

  const sign = (key: KeyLike, sub: string, kid: string) =>
    new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid }).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(key);

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    trusted = pair.privateKey;
    stranger = (await generateKeyPair('RS256')).privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    database = await createTestDatabase();
    server = await startTestServer(database.url, { AUTH_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json` });
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
    jwks.close();
  });

  it('accepts a token signed by a key of the set, with the user from sub', async () => {
    const response = await graphql(server.url, await sign(trusted, 'carol', 'k1'), '{ me }');
    expect(response.data).toEqual({ me: 'carol' });
  });

  it('refuses a token signed by a key outside the set', async () => {
    const response = await graphql(server.url, await sign(stranger, 'mallory', 'k1'), '{ me }');
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  });
});
