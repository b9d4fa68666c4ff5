import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnWatched, type WatchedProcess } from '../support/child-process.js';
import { TestClient, type TokenTransport } from '../support/clients.js';
import { startFleetScript, stopFleetScript, waitForFleetReady } from '../support/fleet-script.js';
import { startTestGateway } from '../support/in-process-gateway.js';
import { REPO_ROOT } from '../support/paths.js';
import { freePort } from '../support/ports.js';
import { signTestToken } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';

const TRANSPORTS: readonly TokenTransport[] = ['query', 'protocol', 'header'];

/** An access-log line for an upgrade HAProxy passed on. */
const UPGRADE_LINE = / 101 \d+ .*"GET \/ws\S* HTTP\/1\.1"$/gm;

/** Opens and closes a socket through the proxy with each way of sending a token (HAProxy logs a tunnel when it closes). */
async function connectEachWay(wsUrl: string, tokens: Readonly<Record<TokenTransport, string>>): Promise<void> {
  for (const via of TRANSPORTS) {
    const client = await TestClient.connect(wsUrl, { token: tokens[via], via });
    await client.close(1000);
  }
}

function waitForUpgradeLines(log: () => string, count: number): Promise<true> {
  return waitUntil(`${count} upgrades in the HAProxy log`, () => (log().match(UPGRADE_LINE)?.length ?? 0) >= count);
}

/**
 * Which named tokens' payload or signature appear in `log`. (The header, {"alg":"HS256"}, is the same in
 * every token and secret in none.)
 */
function leaks(log: string, tokens: Readonly<Record<string, string>>): string[] {
  return Object.entries(tokens).flatMap(([name, token]) => {
    const [, payload, signature] = token.split('.');
    return [
      ...(payload && log.includes(payload) ? [`${name}: payload`] : []),
      ...(signature && log.includes(signature) ? [`${name}: signature`] : []),
    ];
  });
}

describe("HAProxy's access log never holds a token", () => {
  it('with deploy/haproxy/haproxy.cfg in front of a gateway, whether the token comes as ?token=, subprotocol or header', async () => {
    const node = await startTestGateway();
    const directory = mkdtempSync(join(tmpdir(), 'herald-haproxy-'));
    let haproxy: WatchedProcess | undefined;
    try {
      const { port, adminPort } = node.gateway;
      const config = readFileSync(join(REPO_ROOT, 'deploy/haproxy/haproxy.cfg'), 'utf8').replace(
        / {2}# servers: begin[\s\S]*# servers: end/,
        `  server gateway-1 127.0.0.1:${port} check port ${adminPort}`,
      );
      const configPath = join(directory, 'haproxy.cfg');
      writeFileSync(configPath, config);
      const lbPort = await freePort();
      haproxy = spawnWatched('haproxy', ['-f', configPath], { env: { PATH: process.env['PATH'], HERALD_LB_PORT: String(lbPort) } });
      await waitUntil('HAProxy to route to the gateway', async () => (await fetch(`http://127.0.0.1:${lbPort}/ws`)).status === 426);

      const tokens = { query: await signTestToken({ sub: 'via-query' }), protocol: await signTestToken({ sub: 'via-protocol' }), header: await signTestToken({ sub: 'via-header' }) };
      await connectEachWay(`ws://127.0.0.1:${lbPort}/ws`, tokens);
      await waitForUpgradeLines(haproxy.output, TRANSPORTS.length);
      expect(leaks(haproxy.output(), tokens)).toEqual([]);
    } finally {
      haproxy?.child.kill('SIGTERM');
      await haproxy?.exited;
      await node.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('with the configuration npm run fleet generates', async () => {
    const port = await freePort();
    const fleet = startFleetScript(['--nodes', '1', '--port', String(port)]);
    try {
      await waitForFleetReady(fleet);
      const token = /\/ws\?token=(\S+)/.exec(fleet.output())?.[1] ?? '';
      expect(token.split('.')).toHaveLength(3);
      // The fleet prints the token itself; only HAProxy's lines are its log.
      const log = () => fleet.output().split('\n').filter((line) => line.startsWith('[haproxy] ')).join('\n');
      await connectEachWay(`ws://127.0.0.1:${port}/ws`, { query: token, protocol: token, header: token });
      await waitForUpgradeLines(log, TRANSPORTS.length);
      expect(leaks(log(), { 'the fleet token': token })).toEqual([]);
    } finally {
      await stopFleetScript(fleet);
    }
  });
});
