import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, type OutgoingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnWatched, type WatchedProcess } from '../support/child-process.js';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { REPO_ROOT } from '../support/paths.js';
import { freePort } from '../support/ports.js';
import { signTestToken } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';

/** One upgrade attempt with these headers: 101, or the status it was refused with. */
function upgradeStatus(url: string, token: string, headers: OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-protocol': `bearer.${token}`,
        ...headers,
      },
    });
    req.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    req.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Upgrades with a different X-Forwarded-For each time: how many got through one per address per second. */
async function spoofedUpgrades(url: string, token: string, headerFor: (attempt: number) => OutgoingHttpHeaders): Promise<number[]> {
  const statuses: number[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) statuses.push(await upgradeStatus(url, token, headerFor(attempt)));
  return statuses;
}

/** One upgrade per address per second, addresses from X-Forwarded-For. */
const STRICT_LIMITS = { TRUST_PROXY: 'true', UPGRADE_RATE_PER_IP: '1', UPGRADE_BURST_PER_IP: '1' };

describe('per-address upgrade limits behind a proxy (TRUST_PROXY=true)', () => {
  let node: TestGateway;
  let token: string;

  beforeEach(async () => {
    node = await startTestGateway(STRICT_LIMITS);
    token = await signTestToken({ sub: 'forwarded' });
  });

  afterEach(async () => {
    await node.stop();
  });

  it("take the address from the last X-Forwarded-For line, which the proxy appended after any the client sent", async () => {
    const url = `http://127.0.0.1:${node.gateway.port}/ws`;
    const statuses = await spoofedUpgrades(url, token, (attempt) => ({ 'x-forwarded-for': [`10.0.0.${attempt}`, '192.0.2.7'] }));
    expect(statuses).toEqual([101, 429, 429]);
  });

  it('cannot be dodged by a client sending its own X-Forwarded-For through deploy/haproxy/haproxy.cfg', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'herald-haproxy-'));
    let haproxy: WatchedProcess | undefined;
    try {
      const { port, adminPort } = node.gateway;
      const config = readFileSync(join(REPO_ROOT, 'deploy/haproxy/haproxy.cfg'), 'utf8').replace(
        / {2}# servers: begin[\s\S]*# servers: end/,
        `  server gateway-1 127.0.0.1:${port} check port ${adminPort}`,
      );
      writeFileSync(join(directory, 'haproxy.cfg'), config);
      const lbPort = await freePort();
      haproxy = spawnWatched('haproxy', ['-f', join(directory, 'haproxy.cfg')], { env: { PATH: process.env['PATH'], HERALD_LB_PORT: String(lbPort) } });
      await waitUntil('HAProxy to route to the gateway', async () => (await fetch(`http://127.0.0.1:${lbPort}/ws`)).status === 426);

      const statuses = await spoofedUpgrades(`http://127.0.0.1:${lbPort}/ws`, token, (attempt) => ({ 'x-forwarded-for': `10.0.0.${attempt}` }));
      expect(statuses).toEqual([101, 429, 429]);
    } finally {
      haproxy?.child.kill('SIGTERM');
      await haproxy?.exited;
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
