import { request, type OutgoingHttpHeaders } from 'node:http';
import { startHaproxy } from '../support/haproxy.js';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { signTestToken } from '../support/tokens.js';

/** One upgrade attempt with these headers: 101, or the status it was refused with. */
function upgradeStatus(url: string, token: string, headers: OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      agent: false,
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
      resolve(response.statusCode ?? 0);
      // Refused: nothing more to read, and a connection kept open would outlive the test.
      req.destroy();
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
    const haproxy = await startHaproxy(node.gateway);
    try {
      const statuses = await spoofedUpgrades(`http://127.0.0.1:${haproxy.port}/ws`, token, (attempt) => ({ 'x-forwarded-for': `10.0.0.${attempt}` }));
      expect(statuses).toEqual([101, 429, 429]);
    } finally {
      await haproxy.stop();
    }
  });
});
