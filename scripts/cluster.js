#!/usr/bin/env node
'use strict';
/**
 * `npm run cluster`: the multi-instance topology on this machine (DESIGN.md §6): 2 senders (4002, 4004),
 * 2 receivers (4005, 4006) and a relay (health on 4007), against DATABASE_URL and REDIS_URL (the local
 * servers by default). Migrates once first; Ctrl-C stops them all.
 */
const { spawn, spawnSync } = require('node:child_process');
const { resolve } = require('node:path');

const bin = resolve(__dirname, '../bin/parley.js');
const env = {
  ...process.env,
  DATABASE_URL: process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
  MIGRATE_ON_START: 'false',
};
const instances = [
  { name: 'sender-1', role: 'sender', port: 4002 },
  { name: 'sender-2', role: 'sender', port: 4004 },
  { name: 'receiver-1', role: 'receiver', port: 4005 },
  { name: 'receiver-2', role: 'receiver', port: 4006 },
  { name: 'relay', role: 'relay', port: 4007 },
];

const migrated = spawnSync(process.execPath, [bin, 'migrate'], { env, stdio: 'inherit' });
if (migrated.status !== 0) process.exit(migrated.status ?? 1);

let stopping = false;
const children = instances.map(({ name, role, port }) => {
  const child = spawn(process.execPath, [bin, 'serve', '--role', role, '--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `[${name}] `;
  const forward = (stream, target) => {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop();
      for (const line of lines) target.write(prefix + line + '\n');
    });
  };
  forward(child.stdout, process.stdout);
  forward(child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`${prefix}exited (${signal ?? code}); the others keep running\n`);
  });
  return child;
});

process.stdout.write(
  `Parley cluster: senders http://localhost:4002/graphql and :4004, receivers ws://localhost:4005/graphql and :4006, relay :4007. Ctrl-C stops all.\n`,
);

function stop() {
  if (stopping) return;
  stopping = true;
  const alive = children.filter((child) => child.exitCode === null && child.signalCode === null);
  let left = alive.length;
  if (left === 0) process.exit(0);
  for (const child of alive) {
    child.once('exit', () => {
      if (--left === 0) process.exit(0);
    });
    child.kill('SIGTERM');
  }
  setTimeout(() => {
    for (const child of alive) child.kill('SIGKILL');
    process.exit(1);
  }, 10_000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
