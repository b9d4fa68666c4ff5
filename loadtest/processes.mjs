// What the benchmarks share: free ports and waiting (lib/ports.mjs), and a throwaway redis-server
// and gateway process that are killed when the benchmark exits, whatever happens.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { freePort, until } from './lib/ports.mjs';

const { Redis } = createRequire(import.meta.url)('ioredis');

const children = [];
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A redis-server on a free port, without persistence; resolves with a client once it answers. */
export async function startRedis() {
  const port = await freePort();
  children.push(
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
  );
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 50 });
  client.on('error', () => {});
  await until('redis-server', async () => (await client.ping().catch(() => '')) === 'PONG');
  return { port, url: `redis://127.0.0.1:${port}`, client };
}

/**
 * A gateway process (the build at `entry`) on a free port with probes on it, in production mode;
 * `env` adds to or overrides its settings. Resolves once it is ready.
 */
export async function startGateway(entry, env, stdout = 'inherit') {
  const port = await freePort();
  const gateway = spawn(process.execPath, [entry], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_PORT: '0',
      PUBLIC_PROBES: 'true',
      UPGRADE_RATE_PER_IP: '100000',
      UPGRADE_BURST_PER_IP: '100000',
      ...env,
    },
    stdio: ['ignore', stdout, 'inherit'],
  });
  children.push(gateway);
  gateway.once('exit', (code) => {
    if (code !== 0 && code !== null) {
      console.error(`the gateway exited with ${code}`);
      process.exit(1);
    }
  });
  await until('the gateway', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true);
  return { port, process: gateway };
}

export { freePort, until };
