// The throwaway redis-server a benchmark runs against, and the client it measures Redis with.
import { createRequire } from 'node:module';
import { freePort, until } from './ports.mjs';

const { Redis } = createRequire(import.meta.url)('ioredis');

/** Starts a redis-server without persistence on a free port (one of `children`); resolves with its URL. */
export async function startRedisServer(children) {
  const port = await freePort();
  children.spawn('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { PATH: process.env.PATH });
  return `redis://127.0.0.1:${port}`;
}

/** A client of the Redis at `url`, once it answers (within 10 s, or an error naming the URL). */
export async function connectRedis(url) {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  await until(`Redis at ${url} to answer`, async () => (await redis.ping().catch(() => '')) === 'PONG', 10_000);
  return redis;
}
