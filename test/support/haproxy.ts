import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnWatched } from './child-process.js';
import { REPO_ROOT } from './paths.js';
import { freePort } from './ports.js';
import { waitUntil } from './wait.js';

/** HAProxy with deploy/haproxy/haproxy.cfg in front of one gateway. */
export interface Haproxy {
  readonly port: number;
  /** Everything HAProxy wrote (its access log). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts HAProxy with the shipped configuration, routing to the gateway on these ports, and waits until it does. */
export async function startHaproxy(gateway: { readonly port: number; readonly adminPort: number }): Promise<Haproxy> {
  const directory = mkdtempSync(join(tmpdir(), 'herald-haproxy-'));
  const config = readFileSync(join(REPO_ROOT, 'deploy/haproxy/haproxy.cfg'), 'utf8').replace(
    / {2}# servers: begin[\s\S]*# servers: end/,
    `  server gateway-1 127.0.0.1:${gateway.port} check port ${gateway.adminPort}`,
  );
  writeFileSync(join(directory, 'haproxy.cfg'), config);
  const port = await freePort();
  const haproxy = spawnWatched('haproxy', ['-f', join(directory, 'haproxy.cfg')], { env: { PATH: process.env['PATH'], HERALD_LB_PORT: String(port) } });
  const stop = async () => {
    haproxy.child.kill('SIGTERM');
    await haproxy.exited;
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    await waitUntil('HAProxy to route to the gateway', async () => (await fetch(`http://127.0.0.1:${port}/ws`)).status === 426);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, output: haproxy.output, stop };
}
