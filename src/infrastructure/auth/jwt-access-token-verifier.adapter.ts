import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { AccessTokenVerifier, Unauthenticated, type VerifiedAccessToken } from '../../application';
import { CHAT_LIMITS, isStorableText } from '../../domain';

export interface JwtVerifierOptions {
  jwtSecret?: string;
  jwksUrl?: string;
  /** When set, the `iss` claim must be exactly this (AUTH_JWT_ISSUER). */
  issuer?: string;
  /** When set, the `aud` claim must be or contain this (AUTH_JWT_AUDIENCE). */
  audience?: string;
}

/**
 * HS256 with the UTF-8 bytes of AUTH_JWT_SECRET, or RS256/ES256 keys from AUTH_JWKS_URL (DESIGN.md §5).
 * The user id is the `sub` claim. Every token must carry `exp`: a token that never expires would keep
 * a WebSocket open for ever, and could never be taken back.
 */
export class JwtAccessTokenVerifier extends AccessTokenVerifier {
  private readonly secret?: Uint8Array;
  private readonly jwks?: JWTVerifyGetKey;
  private readonly claims: Pick<JWTVerifyOptions, 'requiredClaims' | 'issuer' | 'audience'>;

  constructor(options: JwtVerifierOptions) {
    super();
    if (options.jwksUrl) this.jwks = createRemoteJWKSet(new URL(options.jwksUrl));
    if (options.jwtSecret) this.secret = new TextEncoder().encode(options.jwtSecret);
    if (!this.jwks && !this.secret) throw new Error('JwtAccessTokenVerifier needs a secret or a JWKS URL');
    this.claims = {
      requiredClaims: ['exp'],
      ...(options.issuer ? { issuer: options.issuer } : {}),
      ...(options.audience ? { audience: options.audience } : {}),
    };
  }

  async verify(token: string): Promise<VerifiedAccessToken> {
    try {
      const { payload } = this.jwks && !this.looksSymmetric(token)
        ? await jwtVerify(token, this.jwks, { ...this.claims, algorithms: ['RS256', 'ES256'] })
        : await jwtVerify(token, this.secret ?? new Uint8Array(), { ...this.claims, algorithms: ['HS256'] });
      const { sub, exp } = payload;
      // The user id is stored with every event: it obeys the same rules as ids in arguments.
      if (typeof sub !== 'string' || sub.length === 0 || sub.length > CHAT_LIMITS.userIdMaxChars || !isStorableText(sub)) {
        throw new Unauthenticated('the token has no valid sub claim');
      }
      return { userId: sub, expiresAt: exp! * 1000 };
    } catch (error) {
      if (error instanceof Unauthenticated) throw error;
      if (error instanceof errors.JWTExpired) throw new Unauthenticated('the token has expired');
      if (error instanceof errors.JWTClaimValidationFailed) throw new Unauthenticated(`the token's ${error.claim} claim is missing or not accepted here`);
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
