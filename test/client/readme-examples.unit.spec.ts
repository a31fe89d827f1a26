import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/**
 * The README shows the set-ups for graphql-ws, Apollo Client and urql as code blocks; the e2e test
 * (`test/e2e/standard-clients.e2e.spec.ts`) runs these files. A README block that drifted from its
 * file would show code that no test runs. The typing and presence block is type-checked with the
 * library (`npm run typecheck`) and run by `test/client/presence-and-typing.int.spec.ts`.
 */
describe('the README client examples', () => {
  const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!.trimEnd());

  it.each(['graphql-ws', 'apollo', 'urql', 'presence-and-typing'])('shows test/client/examples/%s.ts exactly as the test runs it', (name) => {
    const file = readFileSync(join(root, 'test', 'client', 'examples', `${name}.ts`), 'utf8').trimEnd();
    expect(blocks).toContain(file);
  });
});
