#!/usr/bin/env node
// How long a gateway node takes to catch its users up after its Redis subscriber connection was
// lost, and how long a new socket of a user waits meanwhile. Starts a throwaway redis-server and
// one gateway process, opens one socket for each of U users, publishes M events for every user
// while the node's subscriber connection is killed (CLIENT KILL TYPE pubsub), then prints the
// time from the kill to "recovered from broker outage" (the node's own log line) and checks that
// every socket got its event.
//
//   npm run build && node loadtest/recovery-time.mjs [--users 1000] [--missed 1] [--gateway <path to gateway/dist/main.js>]
//
// With --missed 0 it measures the recovery alone (every user's history read, nothing to send);
// with events to send, delivering them to the sockets (on the same machine) dominates.
//
// --gateway lets two builds be compared on the same machine (e.g. a worktree of an older commit).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { Redis } = require('ioredis');
const WebSocket = require('ws');
const { SignJWT } = await import('jose');

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '1000' },
    missed: { type: 'string', default: '1' },
    gateway: { type: 'string', default: new URL('../gateway/dist/main.js', import.meta.url).pathname },
  },
});
const users = Number(values.users);
const missed = Number(values.missed);
const secret = 'recovery-benchmark-secret-0123456789abcdef';

function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function until(what, check, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const redisPort = await freePort();
const redisServer = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
  stdio: 'ignore',
});
const redis = new Redis({ port: redisPort, host: '127.0.0.1', retryStrategy: () => 50 });
redis.on('error', () => {});
await until('redis-server', async () => (await redis.ping().catch(() => '')) === 'PONG');

const port = await freePort();
const log = [];
const gateway = spawn(process.execPath, [values.gateway], {
  env: {
    PATH: process.env.PATH,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    JWT_SECRET: secret,
    HERALD_PUBLISH_KEY: 'recovery-benchmark-publish-key',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    ADMIN_PORT: '0',
    PUBLIC_PROBES: 'true',
    MAX_CONNECTIONS: String(users + 100),
    UPGRADE_RATE_PER_IP: '100000',
    UPGRADE_BURST_PER_IP: '100000',
    LOG_LEVEL: 'info',
    DRAIN_DELAY_MS: '0',
    DRAIN_SPREAD_MS: '0',
    DRAIN_GRACE_MS: '1000',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
process.once('exit', () => {
  gateway.kill('SIGKILL');
  redisServer.kill('SIGKILL');
});
gateway.once('exit', (code) => {
  if (code !== 0 && code !== null) {
    console.error(`the gateway exited with ${code}`);
    process.exit(1);
  }
});
let pending = '';
gateway.stdout.on('data', (chunk) => {
  pending += chunk;
  const lines = pending.split('\n');
  pending = lines.pop();
  for (const line of lines) {
    try {
      log.push(JSON.parse(line));
    } catch {
      // not a log line
    }
  }
});
await until('the gateway', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true);

const key = new TextEncoder().encode(secret);
const sign = (sub) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key);
const received = new Map();
function open(userId, token) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, [`bearer.${token}`]);
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'herald.welcome') resolve(socket);
      else if (frame.id) received.set(userId, (received.get(userId) ?? 0) + 1);
    });
    socket.once('error', reject);
  });
}
const ids = Array.from({ length: users }, (_, i) => `recovering-${i}`);
const sockets = [];
for (let i = 0; i < ids.length; i += 200) {
  const batch = ids.slice(i, i + 200);
  sockets.push(...(await Promise.all(batch.map(async (userId) => open(userId, await sign(userId))))));
}

const { createPublisher } = await import(new URL('../publisher-sdk/dist/esm/index.js', import.meta.url).href);
const publisher = createPublisher({ redisUrl: `redis://127.0.0.1:${redisPort}` });
const killedAt = Date.now();
await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
for (let n = 0; n < missed; n++) {
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(ids.slice(i, i + 500).map((userId) => publisher.agentThinking(userId, 'r', null)));
  }
}
await until('the node to recover', () => log.some((line) => line.msg === 'recovered from broker outage'), 120_000);
const recovered = log.find((line) => line.msg === 'recovered from broker outage');
const lateToken = await sign('late-comer');
const lateStarted = Date.now();
const late = await open('late-comer', lateToken).catch((error) => error);
const expected = missed === 0 ? 0 : users;
await until('every socket to get its events', () => received.size === expected, 60_000).catch(() => undefined);
console.log(
  JSON.stringify({
    users,
    recovery_ms: recovered.ms,
    kill_to_recovered_ms: Date.parse(recovered.time) - killedAt,
    sockets_with_their_events: [...received.values()].filter((count) => count === missed).length,
    new_socket_after_recovery_ms: late instanceof Error ? `refused: ${late.message}` : Date.now() - lateStarted,
  }),
);
for (const socket of sockets) socket.terminate();
if (!(late instanceof Error)) late.terminate();
await publisher.close();
gateway.kill('SIGTERM');
await new Promise((resolve) => gateway.once('exit', resolve));
redis.disconnect();
redisServer.kill('SIGKILL');
