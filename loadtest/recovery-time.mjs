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
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { startGateway, startRedis, until } from './processes.mjs';

const require = createRequire(import.meta.url);
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

const redisServer = await startRedis();
const redis = redisServer.client;
const log = [];
const { port, process: gateway } = await startGateway(
  values.gateway,
  {
    REDIS_URL: redisServer.url,
    JWT_SECRET: secret,
    MAX_CONNECTIONS: String(users + 100),
    LOG_LEVEL: 'info',
    DRAIN_DELAY_MS: '0',
    DRAIN_SPREAD_MS: '0',
    DRAIN_GRACE_MS: '1000',
  },
  'pipe',
);
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
const publisher = createPublisher({ redisUrl: redisServer.url });
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
    sockets_with_every_missed_event: ids.filter((userId) => (received.get(userId) ?? 0) === missed).length,
    new_socket_after_recovery_ms: late instanceof Error ? `refused: ${late.message}` : Date.now() - lateStarted,
  }),
);
for (const socket of sockets) socket.terminate();
if (!(late instanceof Error)) late.terminate();
await publisher.close();
gateway.kill('SIGTERM');
await new Promise((resolve) => gateway.once('exit', resolve));
redis.disconnect();
process.exit(0);
