#!/usr/bin/env node
// What publishing costs in Redis memory: starts a throwaway redis-server, publishes N events
// spread over U users with the publisher SDK, and prints the memory they take, in all and for
// the idempotency keys alone.
//
//   npm run build && node loadtest/redis-memory.mjs [--events 100000] [--users 1000] [--sdk <path to an SDK build>]
//
// --sdk lets two builds be compared on the same machine (e.g. a worktree of an older commit).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    users: { type: 'string', default: '1000' },
    sdk: { type: 'string', default: new URL('../publisher-sdk/dist/esm/index.js', import.meta.url).pathname },
    concurrency: { type: 'string', default: '64' },
  },
});
const events = Number(values.events);
const users = Number(values.users);
const concurrency = Number(values.concurrency);
const { Redis } = createRequire(import.meta.url)('ioredis');
const { createPublisher } = await import(pathToFileURL(values.sdk).href);

const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
  stdio: 'ignore',
});
const redis = new Redis({ port, host: '127.0.0.1', retryStrategy: (times) => (times > 50 ? null : 50) });
redis.on('error', () => {
  // redis-server may still be starting: the first commands wait for it.
});
await redis.ping();
const used = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);

const publisher = createPublisher({ redisUrl: `redis://127.0.0.1:${port}` });
await publisher.agentStarted('warm-up', 'run');
const before = await used();
const started = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < events) {
      const n = next++;
      await publisher.agentThinking(`user-${n % users}`, 'run-1', { n });
    }
  }),
);
const elapsed = Date.now() - started;
const after = await used();
const idempotencyKeys = [];
for (let cursor = '0'; ; ) {
  const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', '*:idem:*', 'COUNT', 10_000);
  idempotencyKeys.push(...keys);
  cursor = nextCursor;
  if (cursor === '0') break;
}
// How long one key lives: publish once more and read its key's ttl right away.
await publisher.agentThinking('ttl-probe', 'run-1', {});
const [, [probeKey]] = await redis.scan('0', 'MATCH', '*{u:ttl-probe}:idem:*', 'COUNT', 1_000_000);
const ttls = probeKey === undefined ? -2 : await redis.ttl(probeKey);
for (let i = 0; i < idempotencyKeys.length; i += 1000) await redis.unlink(...idempotencyKeys.slice(i, i + 1000));
await new Promise((resolve) => setTimeout(resolve, 200));
const withoutKeys = await used();

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const total = after - before;
const keyBytes = after - withoutKeys;
console.log(`sdk: ${values.sdk}`);
console.log(`${events} publishes to ${users} users in ${elapsed} ms (${Math.round((events / elapsed) * 1000)}/s, ${concurrency} in flight)`);
console.log(`redis memory: ${mb(total)} in all, ${Math.round(total / events)} B per publish`);
if (idempotencyKeys.length === 0) {
  console.log('idempotency keys: none');
} else {
  console.log(
    `idempotency keys: ${idempotencyKeys.length}, ${mb(keyBytes)} (${Math.round(keyBytes / idempotencyKeys.length)} B each), ttl ${ttls} s`,
  );
  console.log(`at 100k publishes/s these keys would hold ${mb((keyBytes / idempotencyKeys.length) * 100_000 * Math.max(0, ttls))} of Redis memory`);
}
await publisher.close();
redis.disconnect();
server.kill('SIGKILL');
