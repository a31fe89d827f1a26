/** Who a verified bearer token speaks for, and until when. */
export interface VerifiedAccessToken {
  /** The `sub` claim. */
  userId: string;
  /** The `exp` claim, in epoch milliseconds: a WebSocket opened with the token is closed then (DESIGN.md §5). */
  expiresAt: number;
}

/** Turns a bearer token into the caller's identity, or rejects it. */
export abstract class AccessTokenVerifier {
  /** @throws Unauthenticated when the token is missing, malformed, expired, without `exp` or not signed by a trusted key. */
  abstract verify(token: string): Promise<VerifiedAccessToken>;
}
