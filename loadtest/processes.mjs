// What the older benchmarks share: a throwaway redis-server (lib/redis-server.mjs) and gateway
// process, killed when the benchmark exits or is stopped (lib/children.mjs).
import { spawn } from 'node:child_process';
import { Children, track } from './lib/children.mjs';
import { freePort, until } from './lib/ports.mjs';
import { connectRedis, startRedisServer } from './lib/redis-server.mjs';

const children = new Children();

/** A redis-server on a free port, without persistence; resolves with a client once it answers. */
export async function startRedis() {
  const url = await startRedisServer(children);
  return { port: Number(new URL(url).port), url, client: await connectRedis(url) };
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
  track(gateway);
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
