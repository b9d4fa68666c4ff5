import { createRequire } from 'node:module';
import { createPublisher } from '@herald/publisher-sdk';
const { Redis } = createRequire(import.meta.url)('ioredis');
const auto = process.argv[2] === 'auto';
const redis = new Redis('redis://127.0.0.1:6391', { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, enableAutoPipelining: auto });
await new Promise((r) => redis.once('ready', r));
const p = createPublisher({ redis });
const pad = 'x'.repeat(120);
const N = 40000; const lat = [];
const cpu = process.cpuUsage(); const t0 = performance.now();
await new Promise((resolve) => {
  let i = 0, done = 0;
  const step = () => {
    const due = Math.min(N, Math.floor((performance.now() - t0) * 10) + 1);
    while (i < due) { const d = t0 + i / 10; const u = `user-${i % 2000}`; i++; p.publish(u, 'agent_thinking', { u, k: i, pad }).then(() => { lat.push(performance.now() - d); if (++done === N) resolve(); }); }
    if (i < N) setTimeout(step, 1);
  };
  step();
});
const c = process.cpuUsage(cpu);
lat.sort((a, b) => a - b);
console.log(auto ? 'auto ' : 'plain', '10k/s', ((c.user + c.system) / N).toFixed(1), 'µs/event', 'p50', lat[N / 2].toFixed(2), 'p99', lat[Math.floor(N * 0.99)].toFixed(2));
await p.close(); redis.disconnect();
