import { SignJWT } from 'jose';
import { Unauthenticated } from '../../../src/application';
import { JwtAccessTokenVerifier } from '../../../src/infrastructure/auth/jwt-access-token-verifier.adapter';

const SECRET = 'unit-test-secret-0123456789abcdef';
const key = new TextEncoder().encode(SECRET);

/** An HS256 token with the given claims; `exp` one hour ahead unless told otherwise (`null`: none). */
function token(claims: { sub?: string; exp?: number | null; iss?: string; aud?: string | string[] } = {}): Promise<string> {
  const { exp = Math.floor(Date.now() / 1000) + 3600, sub = 'alice', ...rest } = claims;
  const jwt = new SignJWT(rest).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt();
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

describe('JwtAccessTokenVerifier (DESIGN.md §5 "Identity and access")', () => {
  const plain = new JwtAccessTokenVerifier({ jwtSecret: SECRET });

  it('answers the sub and the expiry of a valid token, in epoch milliseconds', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    expect(await plain.verify(await token({ sub: 'carol', exp }))).toEqual({ userId: 'carol', expiresAt: exp * 1000 });
  });

  it('refuses a token without exp', async () => {
    await expect(plain.verify(await token({ exp: null }))).rejects.toThrow(Unauthenticated);
  });

  it('refuses an expired token', async () => {
    await expect(plain.verify(await token({ exp: Math.floor(Date.now() / 1000) - 10 }))).rejects.toThrow(Unauthenticated);
  });

  it('refuses a sub PostgreSQL could not store', async () => {
    await expect(plain.verify(await token({ sub: 'a\u0000b' }))).rejects.toThrow(Unauthenticated);
  });

  describe('counts the sub as every user id is counted (DESIGN.md §5): graphemes, and bytes of UTF-8', () => {
    it('accepts 128 characters that are 200 UTF-16 units', async () => {
      // 56 letters and 72 emoji: 128 characters, 56 + 144 UTF-16 units, 56 + 288 bytes.
      const sub = 'a'.repeat(56) + '😀'.repeat(72);
      expect(sub.length).toBe(200);
      expect((await plain.verify(await token({ sub }))).userId).toBe(sub);
    });

    it.each([
      ['129 characters', 'a'.repeat(129)],
      ['one character of 601 bytes', 'a' + '\u0301'.repeat(300)],
      ['128 characters of 513 bytes', '😀'.repeat(127) + 'e\u0301\u0301'],
      ['an empty string', ''],
      ['surrounding white space', ' alice'],
    ])('refuses a sub of %s as Unauthenticated, saying why', async (_, sub) => {
      const refused = plain.verify(await token({ sub }));
      await expect(refused).rejects.toThrow(Unauthenticated);
      await expect(refused).rejects.toThrow(/sub/);
    });
  });

  describe('with AUTH_JWT_ISSUER', () => {
    const verifier = new JwtAccessTokenVerifier({ jwtSecret: SECRET, issuer: 'https://issuer.example' });

    it('accepts a token from that issuer', async () => {
      expect((await verifier.verify(await token({ iss: 'https://issuer.example' }))).userId).toBe('alice');
    });

    it.each([
      ['another issuer', 'https://other.example'],
      ['no issuer', undefined],
    ])('refuses a token from %s', async (_, iss) => {
      await expect(verifier.verify(await token({ iss }))).rejects.toThrow(Unauthenticated);
    });
  });

  describe('with AUTH_JWT_AUDIENCE', () => {
    const verifier = new JwtAccessTokenVerifier({ jwtSecret: SECRET, audience: 'parley' });

    it.each([
      ['that audience', 'parley'],
      ['a list that holds it', ['other-api', 'parley']],
    ])('accepts a token for %s', async (_, aud) => {
      expect((await verifier.verify(await token({ aud }))).userId).toBe('alice');
    });

    it.each([
      ['another audience', 'other-api'],
      ['no audience', undefined],
    ])('refuses a token for %s', async (_, aud) => {
      await expect(verifier.verify(await token({ aud }))).rejects.toThrow(Unauthenticated);
    });
  });
});
