import { SignJWT } from 'jose';

/**
 * A signed HS256 token for local development and tests (`parley token <userId>`). It always expires
 * (the verifier refuses a token without `exp`) and carries the issuer and audience the server
 * expects when AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE are set.
 */
export async function signDevelopmentToken(
  secret: string,
  userId: string,
  ttl = '1h',
  claims: { issuer?: string; audience?: string } = {},
): Promise<string> {
  const token = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(ttl);
  if (claims.issuer) token.setIssuer(claims.issuer);
  if (claims.audience) token.setAudience(claims.audience);
  return token.sign(new TextEncoder().encode(secret));
}
