import { SignJWT } from 'jose';

/** A signed HS256 token for local development and tests (`parley token <userId>`). */
export async function signDevelopmentToken(secret: string, userId: string, ttl = '1h'): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(new TextEncoder().encode(secret));
}
