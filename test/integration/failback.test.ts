import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isControlFrame } from '@herald/protocol';
import { createPublisher } from '@herald/publisher-sdk';
import { TestClient } from '../support/clients.js';
import { postPublish } from '../support/publish.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, signTestToken } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

async function linkUp(replica: RedisServer): Promise<void> {
  const client = replica.client();
  try {
    await waitUntil('the replica to be in sync', async () => /master_link_status:up/.test(await client.info('replication')), 10_000, 50);
  } finally {
    client.disconnect();
  }
}

async function command(server: RedisServer, ...args: string[]): Promise<void> {
  const client = server.client();
  try {
    await client.call(args[0] as string, ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

describe('Redis roles changing under the gateway: a failover and back to the old primary, a primary made a replica (real Redis primary and replica)', () => {
  let a: RedisServer;
  let b: RedisServer;
  let node: GatewayProcess;
  // A replica writes what it loads from its primary to disk: keep it out of the working directory.
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'herald-failback-')));

  beforeAll(async () => {
    [a, b] = await Promise.all([startRedisServer({ dir: dirs[0] as string }), startRedisServer({ dir: dirs[1] as string })]);
    await command(b, 'REPLICAOF', '127.0.0.1', String(a.port));
    await linkUp(b);
    node = await startGatewayProcess({ REDIS_URL: a.url, JWT_SECRET: TEST_JWT_SECRET, HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY });
  });
  afterAll(async () => {
    await node.stop('SIGKILL');
    await Promise.all([a.stop(), b.stop()]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('never numbers an id twice: the events the old master lost are followed by herald.gap and a new history', async () => {
    const userId = 'failback-user';
    const socket = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: userId }) });
    const publisher = createPublisher({ redisUrl: a.url });
    const published = new Map<string, string>();
    const publish = async (tag: string) => {
      const result = await publisher.publish(userId, 'agent_thinking', { tag });
      expect(published.get(result.event_id)).toBeUndefined();
      published.set(result.event_id, tag);
    };
    try {
      for (const tag of ['first-1', 'first-2', 'first-3']) await publish(tag);
      await linkUp(b);
      // B is promoted while A, cut off, still takes writes: these never reach B.
      await command(b, 'REPLICAOF', 'NO', 'ONE');
      for (const tag of ['lost-4', 'lost-5']) await publish(tag);
      // A rejoins as B's replica (a full resync drops them) and is promoted again: same process, same run_id.
      await command(a, 'REPLICAOF', '127.0.0.1', String(b.port));
      await linkUp(a);
      await command(a, 'REPLICAOF', 'NO', 'ONE');
      for (const tag of ['after-6', 'after-7', 'after-8']) await publish(tag);
      await socket.waitFor('every event', () => socket.events().length === 8);
      await delay(200);
      const seen = socket.frames
        .filter((frame) => frame.type !== 'herald.welcome')
        .map((frame) => (isControlFrame(frame) ? frame.type : (frame.data as { tag: string }).tag));
      expect(seen).toEqual(['first-1', 'first-2', 'first-3', 'lost-4', 'lost-5', 'herald.gap', 'after-6', 'after-7', 'after-8']);
      for (const event of socket.events()) expect(published.get(event.id)).toBe((event.data as { tag: string }).tag);
    } finally {
      await socket.close();
      await publisher.close();
    }
  });

  it('is unready, and refuses publishes at once, while its Redis is a read-only replica; ready again once it is a primary', async () => {
    const readyz = async () => (await fetch(`${node.adminUrl}/readyz`)).status;
    await waitUntil('the node to be ready', async () => (await readyz()) === 200, 10_000, 50);
    await command(a, 'REPLICAOF', '127.0.0.1', String(b.port));
    try {
      await waitUntil('the node to turn unready', async () => (await readyz()) === 503, 2000, 50);
      const started = Date.now();
      const refused = await postPublish(node.httpUrl, { user_id: 'failback-user', type: 'agent_started' });
      expect({ status: refused.status, fast: Date.now() - started < 500 }).toEqual({ status: 503, fast: true });
    } finally {
      await command(a, 'REPLICAOF', 'NO', 'ONE');
    }
    await waitUntil('the node to be ready again', async () => (await readyz()) === 200, 5000, 50);
  });
});
