#!/usr/bin/env node
// What a resume storm does to everyone else: starts a throwaway redis-server and one gateway
// process, gives one user a large history (--events × --event-bytes), then sends --resumes
// WebSocket upgrades that resume it from the start and never read a byte, while --bystanders
// other users connect (one every 10 ms). Prints the bystanders' upgrade latency (request to
// herald.welcome), next to the same measure with no storm.
//
//   npm run build && node loadtest/resume-storm.mjs [--resumes 200] [--bystanders 50]
//     [--events 400] [--event-bytes 30720] [--gateway <path to gateway/dist/main.js>]
//
// --gateway lets two builds be compared on the same machine (e.g. a worktree of an older commit).
import { createRequire } from 'node:module';
import { connect as connectTcp } from 'node:net';
import { parseArgs } from 'node:util';
import { startGateway, startRedis } from './processes.mjs';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const { SignJWT } = await import('jose');

const { values } = parseArgs({
  options: {
    resumes: { type: 'string', default: '200' },
    bystanders: { type: 'string', default: '50' },
    events: { type: 'string', default: '400' },
    'event-bytes': { type: 'string', default: String(30 * 1024) },
    gateway: { type: 'string', default: new URL('../gateway/dist/main.js', import.meta.url).pathname },
  },
});
const secret = 'resume-storm-benchmark-secret-0123456789abcdef';

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const redisServer = await startRedis();
const redis = redisServer.client;
const { port } = await startGateway(values.gateway, {
  REDIS_URL: redisServer.url,
  JWT_SECRET: secret,
  HISTORY_MAX_EVENTS: String(Math.max(1000, Number(values.events))),
  MAX_CONNECTIONS_PER_USER: '10000',
  LOG_LEVEL: 'error',
});

const { createPublisher } = await import(new URL('../publisher-sdk/dist/esm/index.js', import.meta.url).href);
const publisher = createPublisher({ redisUrl: redisServer.url });
const data = 'x'.repeat(Number(values['event-bytes']));
let first;
for (let n = 0; n < Number(values.events); n += 20) {
  const results = await Promise.all(Array.from({ length: 20 }, () => publisher.agentThinking('hoarder', 'r', data)));
  first ??= results[0].event_id;
}
await publisher.close();
const since = `${first.split('-')[0]}-0`;

const key = new TextEncoder().encode(secret);
const sign = (sub) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key);

/** Upgrades and resumes, then never reads: the node holds what the buffers take, no more. */
async function resumeWithoutReading(token) {
  const socket = connectTcp(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.pause();
  socket.write(
    `GET /ws?since=${since} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: bearer.${token}\r\n\r\n`,
  );
  return socket;
}

function welcomed(token) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, [`bearer.${token}`]);
    socket.once('message', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function bystanders(label, count) {
  const tokens = await Promise.all(Array.from({ length: count }, (_, i) => sign(`${label}-${i}`)));
  const times = await Promise.all(
    tokens.map(async (token, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * 10));
      const started = Date.now();
      const socket = await welcomed(token);
      const ms = Date.now() - started;
      socket.terminate();
      return ms;
    }),
  );
  return times.sort((a, b) => a - b);
}

const quiet = await bystanders('quiet', Number(values.bystanders));
const hoarder = await sign('hoarder');
const stalled = [];
const storm = Array.from({ length: Number(values.resumes) }, async () => stalled.push(await resumeWithoutReading(hoarder)));
const [during] = await Promise.all([bystanders('during', Number(values.bystanders)), ...storm]);
for (const socket of stalled) socket.destroy();
const summary = (sorted) => ({ p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99), max_ms: sorted.at(-1) });
console.log(
  JSON.stringify({
    resumes: Number(values.resumes),
    history_bytes: Number(values.events) * Number(values['event-bytes']),
    bystander_upgrades_without_storm: summary(quiet),
    bystander_upgrades_during_storm: summary(during),
    redis_used_memory_peak: (await redis.info('memory')).match(/used_memory_peak_human:(\S+)/)?.[1],
  }),
);
redis.disconnect();
process.exit(0);
