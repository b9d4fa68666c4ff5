import { TestClient, UpgradeRefused } from '../support/clients.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { freePort } from '../support/ports.js';
import { postPublish } from '../support/publish.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, signTestToken } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

// The default user of a redis-server without a password takes any password: the URL can carry one.
const PASSWORD = 's3cret-pw-4711';

function linesWith(node: GatewayProcess, text: string): string[] {
  return node
    .output()
    .split('\n')
    .filter((line) => line.includes(text));
}

async function readyz(node: GatewayProcess): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${node.adminUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('a gateway whose Redis is unreachable', () => {
  let node: GatewayProcess | undefined;
  let redis: RedisServer | undefined;

  afterEach(async () => {
    await node?.stop('SIGKILL');
    await redis?.stop();
  });

  it('names Redis, REDIS_URL and the address (never the password) in one log line and in every 503, and is ready once Redis comes up', async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const unreachable = `Redis at ${address} (REDIS_URL) is unreachable`;
    node = await startGatewayProcess(
      { REDIS_URL: `redis://default:${PASSWORD}@${address}`, JWT_SECRET: TEST_JWT_SECRET, HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY },
      { waitFor: 'healthz' },
    );
    const probe = await readyz(node);
    expect(probe).toMatchObject({ status: 503, body: { status: 'not_ready', message: `${unreachable}; this node is not ready` } });
    const publish = await postPublish(node.httpUrl, { user_id: 'early', type: 'agent_started' });
    expect(publish).toMatchObject({
      status: 503,
      body: { error: { code: 'broker_unavailable', message: `the event was not published: ${unreachable}; nothing was sent; retry` } },
    });
    const upgrade = await TestClient.open(node.wsUrl, { token: await signTestToken() }).catch((error: unknown) => error);
    expect(upgrade).toBeInstanceOf(UpgradeRefused);
    expect(JSON.parse((upgrade as UpgradeRefused).body)).toEqual({
      error: { code: 'unavailable', message: `${unreachable}; this node is not ready; retry` },
    });

    // ioredis retries several times a second meanwhile.
    await delay(4000);
    expect(linesWith(node, 'cannot reach Redis')).toEqual([
      expect.stringContaining(`"msg":"cannot reach Redis at ${address} (REDIS_URL): connect ECONNREFUSED; retrying, not ready"`),
    ]);
    expect(linesWith(node, '"stack"')).toEqual([]);
    expect(node.output()).not.toContain(PASSWORD);
    expect(JSON.stringify([probe, publish])).not.toContain(PASSWORD);

    redis = await startRedisServer({ port });
    await waitUntil('the node to become ready', async () => (await readyz(node as GatewayProcess)).status === 200, 15_000);
    expect(linesWith(node, 'again after')).toEqual([expect.stringContaining(`"msg":"reached Redis at ${address} (REDIS_URL) again after`)]);

    // Killed while the node runs: the same single line, and the same recovery.
    await redis.stop();
    await waitUntil('the node to report Redis unreachable', async () => (await readyz(node as GatewayProcess)).body['message'] === `${unreachable}; this node is not ready`);
    await delay(3000);
    expect(linesWith(node, 'cannot reach Redis')).toHaveLength(2);
    await redis.restart();
    await waitUntil('the node to become ready again', async () => (await readyz(node as GatewayProcess)).status === 200, 15_000);
    expect(linesWith(node, 'again after')).toHaveLength(2);
    expect(linesWith(node, '"stack"')).toEqual([]);
    expect(node.output()).not.toContain(PASSWORD);
  });
});
