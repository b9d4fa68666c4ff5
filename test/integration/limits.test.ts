import WebSocket from 'ws';
import { CloseCodes } from '@herald/protocol';
import { TestClient, UpgradeRefused } from '../support/clients.js';
import { startTestGateway } from '../support/in-process-gateway.js';
import { signTestToken } from '../support/tokens.js';

async function refusal(promise: Promise<TestClient>): Promise<UpgradeRefused> {
  const outcome = await promise.then(
    (client) => {
      client.terminate();
      return undefined;
    },
    (error: unknown) => error,
  );
  if (!(outcome instanceof UpgradeRefused)) throw new Error(`expected a refused upgrade, got ${String(outcome)}`);
  return outcome;
}

describe('limits', () => {
  it('refuses upgrades past MAX_CONNECTIONS with 503', async () => {
    const node = await startTestGateway({ MAX_CONNECTIONS: '2' });
    const clients: TestClient[] = [];
    try {
      for (const sub of ['a', 'b']) clients.push(await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub }) }));
      const refused = await refusal(TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'c' }) }));
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(await (await fetch(`${node.adminUrl}/metrics`)).text()).toContain('herald_upgrades_refused_total{reason="node_full",node="test-node"} 1');
    } finally {
      for (const client of clients) client.terminate();
      await node.stop();
    }
  });

  it("closes a user's oldest socket with 4500 when a new one passes MAX_CONNECTIONS_PER_USER", async () => {
    const node = await startTestGateway({ MAX_CONNECTIONS_PER_USER: '2' });
    try {
      const token = await signTestToken({ sub: 'many-tabs' });
      const [oldest, middle] = [await TestClient.connect(node.wsUrl, { token }), await TestClient.connect(node.wsUrl, { token })];
      const newest = await TestClient.connect(node.wsUrl, { token });
      expect(await oldest.waitForClose()).toEqual({
        code: CloseCodes.CONNECTION_LIMIT.code,
        reason: 'too many connections for this user',
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(middle.closed).toBeUndefined();
      expect(newest.closed).toBeUndefined();
      middle.terminate();
      newest.terminate();
    } finally {
      await node.stop();
    }
  });

  it('limits upgrades per client address with 429 and Retry-After', async () => {
    const node = await startTestGateway({ UPGRADE_RATE_PER_IP: '1', UPGRADE_BURST_PER_IP: '2' });
    try {
      const token = await signTestToken({ sub: 'burst' });
      const allowed = [await TestClient.connect(node.wsUrl, { token }), await TestClient.connect(node.wsUrl, { token })];
      const refused = await refusal(TestClient.connect(node.wsUrl, { token }));
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body).error.code).toBe('rate_limited');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      for (const client of allowed) client.terminate();
    } finally {
      await node.stop();
    }
  });

  it('with TRUST_PROXY, limits by the X-Forwarded-For address the load balancer added', async () => {
    const node = await startTestGateway({ UPGRADE_RATE_PER_IP: '1', UPGRADE_BURST_PER_IP: '1', TRUST_PROXY: 'true' });
    const token = await signTestToken({ sub: 'proxied' });
    const open = (forwardedFor: string) =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(node.wsUrl, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': forwardedFor } });
        socket.once('open', () => {
          socket.terminate();
          resolve(101);
        });
        socket.once('unexpected-response', (_request, response) => {
          response.socket.destroy();
          resolve(response.statusCode ?? 0);
        });
        socket.once('error', () => undefined);
      });
    try {
      expect(await open('198.51.100.7, 10.0.0.1')).toBe(101);
      expect(await open('198.51.100.7, 10.0.0.2')).toBe(101);
      expect(await open('198.51.100.8, 10.0.0.1')).toBe(429);
    } finally {
      await node.stop();
    }
  });

  it('closes a socket that sends frames faster than MAX_INBOUND_MESSAGES_PER_SECOND with 4003', async () => {
    const node = await startTestGateway({ MAX_INBOUND_MESSAGES_PER_SECOND: '2' });
    try {
      const client = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'chatty' }) });
      for (let i = 0; i < 10; i++) client.send({ type: 'herald.ping' });
      expect(await client.waitForClose()).toEqual({ code: CloseCodes.RATE_LIMITED.code, reason: 'too many frames' });
    } finally {
      await node.stop();
    }
  });
});
