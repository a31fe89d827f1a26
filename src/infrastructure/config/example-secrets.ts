/** Only for local development: tokens printed by `parley token` verify against it on the same machine. */
export const DEVELOPMENT_JWT_SECRET = 'parley-development-secret-do-not-use-in-production';

/**
 * Every AUTH_JWT_SECRET written down in this repository (docker-compose.yml, the development secret,
 * the tests' and the benchmarks' secrets): public, so never a production key (DESIGN.md §5). The one
 * list of them; test/unit/config/config.unit.spec.ts scans the repository for secrets missing here.
 */
export const EXAMPLE_JWT_SECRETS: ReadonlySet<string> = new Set([
  DEVELOPMENT_JWT_SECRET,
  'change-me-to-a-long-random-secret',
  'parley-test-secret-0123456789abcdef',
  'parley-bench-secret-0123456789abcdef',
]);

/** The shortest HS256 key accepted in production: RFC 7518 §3.2 asks for at least the hash size, 256 bits. */
export const PRODUCTION_MIN_SECRET_BYTES = 32;
