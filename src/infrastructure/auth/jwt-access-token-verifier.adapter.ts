import { createSecretKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { AccessTokenVerifier, Unauthenticated, type VerifiedAccessToken } from '../../application';
import { userIdProblem } from '../../domain';

export interface JwtVerifierOptions {
  jwtSecret?: string;
  jwksUrl?: string;
  /** When set, the `iss` claim must be exactly this (AUTH_JWT_ISSUER). */
  issuer?: string;
  /** When set, the `aud` claim must be or contain this (AUTH_JWT_AUDIENCE). */
  audience?: string;
  /** How long a verified token is trusted without checking its signature again (never past its `exp`). */
  cacheTtlMs?: number;
  /** Tokens remembered at most; the oldest are forgotten first. */
  cacheSize?: number;
}

interface Remembered extends VerifiedAccessToken {
  /** Trusted until then without verifying again: the earlier of its expiry and the cache's TTL. */
  until: number;
}

/**
 * HS256 with the UTF-8 bytes of AUTH_JWT_SECRET, or RS256/ES256 keys from AUTH_JWKS_URL (DESIGN.md §5).
 * The user id is the `sub` claim. Every token must carry `exp`: a token that never expires would keep
 * a WebSocket open for ever, and could never be taken back.
 *
 * A client sends the same token with every request, so a verified token is remembered (by its exact
 * text, bounded in count) and trusted until its `exp`, and for at most `cacheTtlMs`, which bounds how
 * long a key removed from the JWKS still admits tokens it signed. The HMAC key is imported once.
 * Measured under the write load, verifying every request cost about 8 % of a sender's CPU.
 */
export class JwtAccessTokenVerifier extends AccessTokenVerifier {
  private readonly secret?: KeyObject;
  private readonly jwks?: JWTVerifyGetKey;
  private readonly claims: Pick<JWTVerifyOptions, 'requiredClaims' | 'issuer' | 'audience'>;
  private readonly remembered = new Map<string, Remembered>();
  private readonly cacheTtlMs: number;
  private readonly cacheSize: number;

  constructor(options: JwtVerifierOptions) {
    super();
    this.cacheTtlMs = options.cacheTtlMs ?? 60_000;
    this.cacheSize = options.cacheSize ?? 10_000;
    if (options.jwksUrl) this.jwks = createRemoteJWKSet(new URL(options.jwksUrl));
    // The UTF-8 bytes of the secret (DESIGN.md §5), as a key object once rather than on every verify.
    if (options.jwtSecret) this.secret = createSecretKey(Buffer.from(options.jwtSecret, 'utf8'));
    if (!this.jwks && !this.secret) throw new Error('JwtAccessTokenVerifier needs a secret or a JWKS URL');
    this.claims = {
      requiredClaims: ['exp'],
      ...(options.issuer ? { issuer: options.issuer } : {}),
      ...(options.audience ? { audience: options.audience } : {}),
    };
  }

  async verify(token: string): Promise<VerifiedAccessToken> {
    const now = Date.now();
    const known = this.remembered.get(token);
    if (known && now < known.until) return { userId: known.userId, expiresAt: known.expiresAt };
    const verified = await this.verifySignature(token);
    if (known) this.remembered.delete(token);
    else if (this.remembered.size >= this.cacheSize) this.remembered.delete(this.remembered.keys().next().value!);
    this.remembered.set(token, { ...verified, until: Math.min(verified.expiresAt, now + this.cacheTtlMs) });
    return verified;
  }

  private async verifySignature(token: string): Promise<VerifiedAccessToken> {
    try {
      const { payload } = this.jwks && !this.looksSymmetric(token)
        ? await jwtVerify(token, this.jwks, { ...this.claims, algorithms: ['RS256', 'ES256'] })
        : await jwtVerify(token, this.secret ?? new Uint8Array(), { ...this.claims, algorithms: ['HS256'] });
      const { sub, exp } = payload;
      // The user id is stored with every event and is a key: it obeys the rules of participant ids,
      // counted the same way (characters and bytes), so every user who signs in can be added to a chat.
      if (typeof sub !== 'string') throw new Unauthenticated('the token has no sub claim');
      const problem = userIdProblem(sub);
      if (problem) throw new Unauthenticated(`the token's sub claim (the user id) ${problem}`);
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
