import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, DEVELOPMENT_JWT_SECRET, loadConfig } from '../../../src/infrastructure/config/config';
import { TEST_JWT_SECRET } from '../../support/test-server';

const ROOT = join(__dirname, '../../..');
const GOOD_SECRET = 'kV7q2Lr9XbT4mN8pZs1Wc6Yd3Fh0Jg5Q';

/** Every AUTH_JWT_SECRET value written in the repository's examples, docs, scripts, benchmarks and test support. */
function secretsWrittenInTheRepository(): string[] {
  const files = ['README.md', 'docker-compose.yml', '.env.example'];
  for (const folder of ['docs', 'scripts', 'bench', 'test/support']) {
    // Files only: `npm run bench` leaves a reports folder in bench/.
    const entries = readdirSync(join(ROOT, folder), { withFileTypes: true });
    files.push(...entries.filter((entry) => entry.isFile()).map((entry) => join(folder, entry.name)));
  }
  const found = new Set<string>();
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    // In code only quoted values count (`AUTH_JWT_SECRET: secret` names a variable); YAML and .env values need no quotes.
    const assignment = file.endsWith('.ts') || file.endsWith('.js')
      ? /(?:AUTH_JWT_SECRET\s*[:=]|SECRET\s*=)\s*['"]([^'"]+)['"]/g
      : /AUTH_JWT_SECRET\s*[:=]\s*["']?([^\s"'#,`]+)/g;
    for (const [, value] of text.matchAll(assignment)) found.add(value!);
  }
  return [...found];
}

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('configuration', () => {
  describe('TRUST_PROXY', () => {
    it('trusts no proxy when unset', () => {
      expect(loadConfig({}).trustProxy).toEqual([]);
    });

    it('reads a comma-separated list of addresses, subnets and names', () => {
      expect(loadConfig({ TRUST_PROXY: ' 10.0.0.0/8, loopback,fd00::1 ' }).trustProxy).toEqual(['10.0.0.0/8', 'loopback', 'fd00::1']);
    });

    it.each(['true', '10.0.0.0/33', 'proxy.example'])('refuses %s, naming TRUST_PROXY', (value) => {
      const error = configError({ TRUST_PROXY: value });
      expect(error.variable).toBe('TRUST_PROXY');
      expect(error.message).toMatch(/^invalid configuration: TRUST_PROXY must be a comma-separated list/);
    });
  });

  describe('OUTBOX_RETENTION', () => {
    it('keeps the outbox for ever when unset', () => {
      expect(loadConfig({}).outboxRetentionMs).toBeUndefined();
    });

    it('reads a whole number and a unit', () => {
      expect(loadConfig({ OUTBOX_RETENTION: '30d' }).outboxRetentionMs).toBe(30 * 86_400_000);
      expect(loadConfig({ OUTBOX_RETENTION: '36h' }).outboxRetentionMs).toBe(36 * 3_600_000);
      expect(loadConfig({ OUTBOX_RETENTION: '2w' }).outboxRetentionMs).toBe(14 * 86_400_000);
    });

    it.each(['30', 'thirty days', '1.5d', '30 d x', '-1d', '1mo'])('refuses %p, naming the variable', (value) => {
      const error = configError({ OUTBOX_RETENTION: value });
      expect(error.variable).toBe('OUTBOX_RETENTION');
      expect(error.message).toContain('must be a duration');
    });

    it('refuses less than an hour: relays and receivers still read rows minutes old', () => {
      expect(configError({ OUTBOX_RETENTION: '59m' }).variable).toBe('OUTBOX_RETENTION');
      expect(loadConfig({ OUTBOX_RETENTION: '60m' }).outboxRetentionMs).toBe(3_600_000);
    });
  });

  describe('LOG_FORMAT', () => {
    it('defaults to pretty when stdout is a terminal and to json otherwise', () => {
      expect(loadConfig({}, true).logFormat).toBe('pretty');
      expect(loadConfig({}, false).logFormat).toBe('json');
      expect(loadConfig({ LOG_FORMAT: '' }, true).logFormat).toBe('pretty');
    });

    it('takes json or pretty whatever stdout is', () => {
      expect(loadConfig({ LOG_FORMAT: 'json' }, true).logFormat).toBe('json');
      expect(loadConfig({ LOG_FORMAT: 'pretty' }, false).logFormat).toBe('pretty');
    });

    it.each(['nonsense', 'JSON', 'text'])('refuses %s, naming LOG_FORMAT', (value) => {
      const error = configError({ LOG_FORMAT: value });
      expect(error.variable).toBe('LOG_FORMAT');
      expect(error.message).toContain(`(got "${value}")`);
    });
  });

  describe('AUTH_JWT_SECRET with NODE_ENV=production', () => {
    it.each([
      ['31 ASCII bytes', 'x'.repeat(31)],
      ['31 bytes of UTF-8 in 16 characters', `${'é'.repeat(15)}x`],
    ])('refuses a secret of %s, naming AUTH_JWT_SECRET', (_, secret) => {
      const error = configError({ NODE_ENV: 'production', AUTH_JWT_SECRET: secret });
      expect(error.variable).toBe('AUTH_JWT_SECRET');
      expect(error.message).toMatch(/^invalid configuration: AUTH_JWT_SECRET .*32 bytes/);
      expect(error.message).not.toContain(secret);
    });

    it('finds the secrets written in the repository (so the next test checks something)', () => {
      const found = secretsWrittenInTheRepository();
      expect(found).toEqual(expect.arrayContaining(['change-me-to-a-long-random-secret', TEST_JWT_SECRET]));
    });

    it.each([...new Set([...secretsWrittenInTheRepository(), DEVELOPMENT_JWT_SECRET, TEST_JWT_SECRET])])(
      'refuses the example secret %s, naming AUTH_JWT_SECRET',
      (secret) => {
        const error = configError({ NODE_ENV: 'production', AUTH_JWT_SECRET: secret });
        expect(error.variable).toBe('AUTH_JWT_SECRET');
        expect(error.message).toMatch(/^invalid configuration: AUTH_JWT_SECRET /);
      },
    );

    it('accepts a secret of 32 bytes that is not an example', () => {
      expect(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: GOOD_SECRET }).auth.jwtSecret).toBe(GOOD_SECRET);
    });

    it('accepts 16 two-byte characters (32 bytes of UTF-8)', () => {
      expect(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'é'.repeat(16) }).auth.jwtSecret).toBe('é'.repeat(16));
    });

    it('needs no secret with AUTH_JWKS_URL', () => {
      expect(loadConfig({ NODE_ENV: 'production', AUTH_JWKS_URL: 'https://issuer.example/jwks.json' }).auth.jwtSecret).toBeUndefined();
    });
  });

  it('keeps accepting the short example secrets outside production', () => {
    expect(loadConfig({ NODE_ENV: 'test', AUTH_JWT_SECRET: TEST_JWT_SECRET }).auth.jwtSecret).toBe(TEST_JWT_SECRET);
    expect(loadConfig({ AUTH_JWT_SECRET: 'sixteen-chars-ok' }).auth.jwtSecret).toBe('sixteen-chars-ok');
  });

  it('reads AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE', () => {
    const config = loadConfig({ AUTH_JWT_ISSUER: 'https://issuer.example', AUTH_JWT_AUDIENCE: 'parley' });
    expect(config.auth).toMatchObject({ issuer: 'https://issuer.example', audience: 'parley' });
    expect(loadConfig({}).auth).toMatchObject({ issuer: undefined, audience: undefined });
  });
});
