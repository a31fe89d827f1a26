import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { AccessTokenVerifier, Unauthenticated } from '../../application';

/**
 * HS256 with the UTF-8 bytes of AUTH_JWT_SECRET, or RS256/ES256 keys from AUTH_JWKS_URL (DESIGN.md §5).
 * The user id is the `sub` claim.
 */
export class JwtAccessTokenVerifier extends AccessTokenVerifier {
  private readonly secret?: Uint8Array;
  private readonly jwks?: JWTVerifyGetKey;

  constructor(options: { jwtSecret?: string; jwksUrl?: string }) {
    super();
    if (options.jwksUrl) this.jwks = createRemoteJWKSet(new URL(options.jwksUrl));
    if (options.jwtSecret) this.secret = new TextEncoder().encode(options.jwtSecret);
    if (!this.jwks && !this.secret) throw new Error('JwtAccessTokenVerifier needs a secret or a JWKS URL');
  }

  async verify(token: string): Promise<string> {
    try {
      const { payload } = this.jwks && !this.looksSymmetric(token)
        ? await jwtVerify(token, this.jwks, { algorithms: ['RS256', 'ES256'] })
        : await jwtVerify(token, this.secret ?? new Uint8Array(), { algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 128) {
        throw new Unauthenticated('the token has no valid sub claim');
      }
      return payload.sub;
    } catch (error) {
      if (error instanceof Unauthenticated) throw error;
      if (error instanceof errors.JWTExpired) throw new Unauthenticated('the token has expired');
      throw new Unauthenticated('the token is not valid');
    }
  }

  /** With both configured, an HS256 header goes to the secret and everything else to the key set. */
  private looksSymmetric(token: string): boolean {
    if (!this.secret) return false;
    try {
      const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
      return header.alg === 'HS256';
    } catch {
      return false;
    }
  }
}
