#!/usr/bin/env node
// Builds the web client (web/, with the client library from client/) into dist/web, which every
// instance serves at `/`. One bundle, no CDN: the page works without internet access.
const { build } = require('esbuild');
const { copyFileSync, mkdirSync } = require('node:fs');
const { join, resolve } = require('node:path');

const root = resolve(__dirname, '..');
const out = join(root, 'dist', 'web');

async function main() {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [join(root, 'web', 'src', 'main.ts')],
    outfile: join(out, 'app.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    tsconfig: join(root, 'web', 'tsconfig.json'),
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'app.css']) copyFileSync(join(root, 'web', file), join(out, file));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
