import { startHaproxy, type Haproxy } from '../support/haproxy.js';
import { TestClient, type TokenTransport } from '../support/clients.js';
import { startFleetScript, stopFleetScript, waitForFleetReady } from '../support/fleet-script.js';
import { startTestGateway } from '../support/in-process-gateway.js';
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
    let haproxy: Haproxy | undefined;
    try {
      haproxy = await startHaproxy(node.gateway);
      const lbPort = haproxy.port;

      const tokens = { query: await signTestToken({ sub: 'via-query' }), protocol: await signTestToken({ sub: 'via-protocol' }), header: await signTestToken({ sub: 'via-header' }) };
      await connectEachWay(`ws://127.0.0.1:${lbPort}/ws`, tokens);
      await waitForUpgradeLines(haproxy.output, TRANSPORTS.length);
      expect(leaks(haproxy.output(), tokens)).toEqual([]);
    } finally {
      await haproxy?.stop();
      await node.stop();
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
