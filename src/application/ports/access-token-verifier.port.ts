/** Turns a bearer token into the caller's user id (the `sub` claim), or rejects it. */
export abstract class AccessTokenVerifier {
  /** @throws Unauthenticated when the token is missing, malformed, expired or not signed by a trusted key. */
  abstract verify(token: string): Promise<string>;
}
