#!/usr/bin/env node
// Builds the client library (client/) as an npm package: one bundle per module format (ESM and
// CommonJS) and its .d.ts types, in client/dist. graphql-ws stays outside the bundle: it is a peer
// dependency, so an application has one copy of it, the one its Apollo or urql set-up also uses.
const { build } = require('esbuild');
const { execFileSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const { join, resolve } = require('node:path');

const client = resolve(__dirname, '..', 'client');
const out = join(client, 'dist');

async function main() {
  rmSync(out, { recursive: true, force: true });
  const common = {
    entryPoints: [join(client, 'index.ts')],
    bundle: true,
    external: ['graphql-ws'],
    platform: 'neutral',
    target: ['es2020'],
    sourcemap: true,
    logLevel: 'warning',
  };
  await Promise.all([
    build({ ...common, format: 'esm', outfile: join(out, 'index.mjs') }),
    build({ ...common, format: 'cjs', outfile: join(out, 'index.cjs') }),
  ]);
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(client, 'tsconfig.build.json')], { stdio: 'inherit' });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
