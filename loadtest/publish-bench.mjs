#!/usr/bin/env node
// The publish leg alone: Herald's SDK against bare ioredis PUBLISH (the floor), no gateway, no
// subscribers, one throwaway redis-server. Each publisher runs in its own process:
//  - open loop at --rate events/s to --users random users for --duration s: latency from when
//    each publish was due to its reply, publisher CPU and Redis CPU per event;
//  - closed loop for --duration s with --window publishes in flight: the highest throughput.
//   npm run build && node loadtest/publish-bench.mjs [--rate 15000] [--duration 8] [--users 2000]
//     [--payload 200] [--window 1000] [--sdk <path to another SDK build, compared in the same run>]
// Prints a Markdown table; --json <file> also writes the figures.
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { newHistogram, recordMs, encode, decode, summary } from './lib/histograms.mjs';
import { Children } from './lib/children.mjs';
import { until } from './lib/ports.mjs';
import { connectRedis, startRedisServer } from './lib/redis-server.mjs';
import { sendOnSchedule } from './lib/schedule.mjs';
import { redisSample } from './lib/process-stats.mjs';

const { Redis } = createRequire(import.meta.url)('ioredis');
const now = () => performance.timeOrigin + performance.now();
const HERALD_SDK = fileURLToPath(new URL('../publisher-sdk/dist/esm/index.js', import.meta.url));

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '15000' },
    duration: { type: 'string', default: '8' },
    users: { type: 'string', default: '2000' },
    payload: { type: 'string', default: '200' },
    window: { type: 'string', default: '1000' },
    sdk: { type: 'string' },
    json: { type: 'string' },
    role: { type: 'string' },
  },
});
const settings = {
  rate: Number(values.rate),
  durationMs: Number(values.duration) * 1000,
  users: Number(values.users),
  payload: Number(values.payload),
  window: Number(values.window),
};
for (const [name, value] of Object.entries(settings)) {
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`publish-bench: --${name === 'durationMs' ? 'duration' : name} must be a positive integer\n`);
    process.exit(2);
  }
}

// ---- a publisher process -------------------------------------------------------------------
async function publisherProcess({ kind, sdkPath, redisUrl, mode }) {
  let publish;
  let close;
  if (kind === 'bare') {
    const redis = new Redis(redisUrl, { enableAutoPipelining: true });
    await redis.ping();
    publish = (user, data) => redis.publish(`u:${user}`, JSON.stringify(data));
    close = () => redis.quit();
  } else {
    const { createPublisher } = await import(pathToFileURL(sdkPath).href);
    const publisher = createPublisher({ redisUrl });
    publish = (user, data) => publisher.publish(user, 'agent_thinking', data);
    close = () => publisher.close();
  }
  const users = Array.from({ length: settings.users }, (_, i) => `user-${i}`);
  const pad = 'x'.repeat(Math.max(0, settings.payload - 60));
  const latency = newHistogram();
  let sent = 0;
  let answered = 0;
  let failed = 0;
  const one = (due) => {
    const user = users[Math.floor(Math.random() * users.length)];
    sent += 1;
    return publish(user, { u: user, k: sent, t: due, pad }).then(
      () => {
        answered += 1;
        recordMs(latency, now() - due);
      },
      () => {
        failed += 1;
      },
    );
  };
  // Warm-up: JIT, connections, scripts loaded.
  await Promise.all(Array.from({ length: 2000 }, () => one(now())));
  sent = 0;
  answered = 0;
  latency.reset();
  process.send({ type: 'ready' });
  await new Promise((resolve) => process.once('message', resolve));
  const cpuBefore = process.cpuUsage();
  const startedAt = now();
  if (mode === 'open') {
    const count = Math.round((settings.rate * settings.durationMs) / 1000);
    await sendOnSchedule({ rate: settings.rate, count, startAt: startedAt }, one);
    await until('the last replies', () => answered + failed >= sent, 30_000);
  } else {
    const endAt = startedAt + settings.durationMs;
    const lane = async () => {
      while (now() < endAt) await one(now());
    };
    await Promise.all(Array.from({ length: settings.window }, lane));
  }
  const elapsedMs = now() - startedAt;
  const cpu = process.cpuUsage(cpuBefore);
  process.send({ type: 'done', sent, failed, elapsedMs, cpuUs: cpu.user + cpu.system, latency: encode(latency) });
  await close();
  process.exit(0);
}

// ---- the coordinator -----------------------------------------------------------------------
async function measure(redis, redisUrl, kind, sdkPath, mode) {
  const child = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--role', 'publisher'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages = [];
  const next = () => new Promise((resolve, reject) => {
    if (messages.length) return resolve(messages.shift());
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`the ${kind} publisher exited (${code})`)));
  });
  child.send({ kind, sdkPath, redisUrl, mode });
  await next();
  await redis.config('RESETSTAT');
  const before = await redisSample(redis);
  child.send({ type: 'go' });
  const done = await next();
  const after = await redisSample(redis);
  const stats = await redis.info('commandstats');
  // Script calls made by EVALSHA, and by EVAL where Redis did not know the script yet.
  const scripts = [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+),usec=(\d+)/g)].map((match) => ({ calls: Number(match[1]), usec: Number(match[2]) }));
  const scriptCalls = scripts.reduce((sum, entry) => sum + entry.calls, 0);
  const scriptUsec = scripts.reduce((sum, entry) => sum + entry.usec, 0);
  await redis.flushall();
  const latency = summary(decode(done.latency));
  return {
    kind,
    mode,
    sent: done.sent,
    failed: done.failed,
    eventsPerSecond: Math.round((done.sent / done.elapsedMs) * 1000),
    latencyMs: latency,
    publisherCpuUsPerEvent: Math.round((done.cpuUs / done.sent) * 10) / 10,
    redisCpuUsPerEvent: Math.round((((after.cpuSeconds - before.cpuSeconds) * 1e6) / done.sent) * 10) / 10,
    scriptUsPerEvent: scriptCalls > 0 ? Math.round((scriptUsec / done.sent) * 10) / 10 : null,
    eventsPerScriptCall: scriptCalls > 0 ? Math.round((done.sent / scriptCalls) * 10) / 10 : null,
  };
}

async function main() {
  const children = new Children();
  const redisUrl = await startRedisServer(children);
  const redis = await connectRedis(redisUrl);
  const publishers = [
    ['bare ioredis PUBLISH', 'bare', undefined],
    ['Herald SDK', 'sdk', HERALD_SDK],
    ...(values.sdk ? [[`Herald SDK (${values.sdk})`, 'sdk', values.sdk]] : []),
  ];
  const rows = [];
  for (const [label, kind, sdkPath] of publishers) {
    const open = await measure(redis, redisUrl, kind, sdkPath, 'open');
    const closed = await measure(redis, redisUrl, kind, sdkPath, 'closed');
    rows.push({ label, open, closed });
    process.stderr.write(`publish-bench: ${label} done\n`);
  }
  const floor = rows[0];
  const ratio = (value, base) => (value === null || base === null || !base ? '' : ` (${(value / base).toFixed(2)}x)`);
  const lines = [
    `Publish leg: ${settings.rate} events/s open loop to ${settings.users} users for ${settings.durationMs / 1000} s, then ${settings.window} in flight (closed loop), ~${settings.payload} B events, one publisher process each, one redis-server.`,
    '',
    '| publisher | p50 | p99 | p99.9 | publisher CPU µs/event | Redis CPU µs/event | script µs/event (events/call) | max events/s |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(({ label, open, closed }) =>
      `| ${label} | ${open.latencyMs?.p50} ms${ratio(open.latencyMs?.p50, floor.open.latencyMs?.p50)} | ${open.latencyMs?.p99} ms${ratio(open.latencyMs?.p99, floor.open.latencyMs?.p99)} | ${open.latencyMs?.p999} ms | ${open.publisherCpuUsPerEvent}${ratio(open.publisherCpuUsPerEvent, floor.open.publisherCpuUsPerEvent)} | ${open.redisCpuUsPerEvent}${ratio(open.redisCpuUsPerEvent, floor.open.redisCpuUsPerEvent)} | ${open.scriptUsPerEvent === null ? '–' : `${open.scriptUsPerEvent} (${open.eventsPerScriptCall})`} | ${closed.eventsPerSecond}${ratio(closed.eventsPerSecond, floor.closed.eventsPerSecond)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ settings, rows }, null, 2));
  redis.disconnect();
  await children.stopAll();
  return lines.join('\n');
}

if (values.role === 'publisher') {
  process.on('disconnect', () => process.exit(0));
  process.once('message', (message) => void publisherProcess(message));
} else {
  main().catch((error) => {
    process.stderr.write(`publish-bench: ${error.stack ?? error}\n`);
    process.exit(1);
  });
}
