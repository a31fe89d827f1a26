#!/usr/bin/env node
'use strict';
/**
 * `npm run cluster`: the multi-instance topology on this machine (DESIGN.md §6) behind one address:
 * HAProxy on :4000 (deploy/haproxy/haproxy.cfg) in front of 2 senders (4002, 4004) and 2 receivers
 * (4005, 4006), and 2 relays (health on 4007, 4008), against DATABASE_URL and REDIS_URL (the local
 * servers by default). Migrates once first; Ctrl-C stops them all.
 */
const { spawn, spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { resolve } = require('node:path');

const bin = resolve(__dirname, '../bin/parley.js');
const proxyConfig = resolve(__dirname, '../deploy/haproxy/haproxy.cfg');
// Debian puts it in /usr/sbin, which is not on every user's PATH.
const haproxy = process.env.HAPROXY_PATH || (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy');
const env = {
  ...process.env,
  DATABASE_URL: process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
  MIGRATE_ON_START: 'false',
  // The proxy connects to the instances from 127.0.0.1: its X-Forwarded-For is the client's address,
  // and it drops whatever X-Forwarded-For a client sent it. Nobody else's header is believed.
  TRUST_PROXY: process.env.TRUST_PROXY || '127.0.0.1',
};
const instances = [
  { name: 'sender-1', role: 'sender', port: 4002 },
  { name: 'sender-2', role: 'sender', port: 4004 },
  { name: 'receiver-1', role: 'receiver', port: 4005 },
  { name: 'receiver-2', role: 'receiver', port: 4006 },
  { name: 'relay-1', role: 'relay', port: 4007 },
  { name: 'relay-2', role: 'relay', port: 4008 },
];
const at = (name) => `127.0.0.1:${instances.find((instance) => instance.name === name).port}`;
const proxyEnv = {
  ...process.env,
  PARLEY_PROXY_BIND: ':4000',
  PARLEY_SENDER_1: at('sender-1'),
  PARLEY_SENDER_2: at('sender-2'),
  PARLEY_RECEIVER_1: at('receiver-1'),
  PARLEY_RECEIVER_2: at('receiver-2'),
};

// Check the proxy and its configuration before anything starts, so a missing HAProxy is one clear line.
const checked = spawnSync(haproxy, ['-c', '-q', '-f', proxyConfig], { env: proxyEnv, stdio: 'inherit' });
if (checked.error || checked.status !== 0) {
  process.stderr.write(
    checked.error
      ? `npm run cluster needs HAProxy (${haproxy}: ${checked.error.code}): apt-get install -y haproxy, or set HAPROXY_PATH\n`
      : `HAProxy refused ${proxyConfig}\n`,
  );
  process.exit(1);
}

const migrated = spawnSync(process.execPath, [bin, 'migrate'], { env, stdio: 'inherit' });
if (migrated.status !== 0) process.exit(migrated.status ?? 1);

let stopping = false;
const commands = [
  ...instances.map(({ name, role, port }) => ({ name, command: process.execPath, args: [bin, 'serve', '--role', role, '--port', String(port)], env })),
  // -db: in the foreground, its messages (an instance marked up or down) on stderr.
  { name: 'proxy', command: haproxy, args: ['-db', '-f', proxyConfig], env: proxyEnv },
];
const children = commands.map(({ name, command, args, env }) => {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  'Parley cluster behind HAProxy: http://localhost:4000/ (web client), http://localhost:4000/graphql (HTTP and WebSocket).\n' +
    'Instances: senders :4002 and :4004, receivers :4005 and :4006, relays :4007 and :4008. Ctrl-C stops all.\n',
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
