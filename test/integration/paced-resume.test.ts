import { connect as connectTcp, type Socket } from 'node:net';
import { compareEventIds, parseEventId } from '@herald/protocol';
import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import { TestClient } from '../support/clients.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { TEST_JWT_SECRET, signTestToken } from '../support/tokens.js';
import { delay } from '../support/wait.js';

const MAX_BUFFERED_BYTES = 256 * 1024;
const EVENT_BYTES = 30 * 1024;
const BACKLOG = 400; // 12 MB: 48 times the slow-consumer limit

async function publishBacklog(publisher: Publisher, userId: string, count: number): Promise<string[]> {
  const data = 'x'.repeat(EVENT_BYTES);
  const ids: string[] = [];
  for (let n = 0; n < count; n += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, count - n) }, () => publisher.agentThinking(userId, 'r', data)),
    );
    ids.push(...batch.map((result) => result.event_id));
  }
  return ids.sort(compareEventIds);
}

async function bufferedHighWater(node: GatewayProcess): Promise<number> {
  const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith('herald_socket_buffered_bytes_high_water'));
  return Number(line?.split(' ').at(-1));
}

/** Sends a WebSocket upgrade and never reads a byte of the answer. */
async function resumeWithoutReading(port: number, path: string, token: string): Promise<Socket> {
  const socket = connectTcp(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.pause();
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: bearer.${token}\r\n\r\n`,
  );
  return socket;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

// Documented in docs/operations.md (Redis faults).
const STORM_UPGRADE_P99_BOUND_MS = 500;

describe('resumes far behind, slow or many at once (real Redis, a real gateway process, MAX_BUFFERED_BYTES 256 KB)', () => {
  let redis: RedisServer;
  let node: GatewayProcess;
  let publisher: Publisher;

  beforeAll(async () => {
    redis = await startRedisServer();
    node = await startGatewayProcess({
      REDIS_URL: redis.url,
      JWT_SECRET: TEST_JWT_SECRET,
      NODE_ENV: 'production',
      MAX_BUFFERED_BYTES: String(MAX_BUFFERED_BYTES),
      HISTORY_MAX_EVENTS: '1000',
      MAX_CONNECTIONS_PER_USER: '1000',
    });
    publisher = createPublisher({ redisUrl: redis.url });
  });
  afterAll(async () => {
    await publisher.close();
    await node.stop('SIGKILL');
    await redis.stop();
  });

  it('resumes 12 MB behind to completion in one connection, never nearing the slow-consumer limit', async () => {
    const ids = await publishBacklog(publisher, 'far-behind', BACKLOG);
    const first = parseEventId(ids[0] ?? '');
    const since = `${first?.ms}-0`;
    await bufferedHighWater(node); // resets the high-water mark
    const socket = await TestClient.connect(`${node.wsUrl}?since=${since}`, { token: await signTestToken({ sub: 'far-behind' }) });
    // Live events published during the resume come after the history, once each.
    const live = publishBacklog(publisher, 'far-behind', 60);
    await socket.waitFor('herald.resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed') || socket.closed !== undefined, 30_000);
    ids.push(...(await live));
    await socket.waitForEvents(ids.length, 10_000).catch(() => undefined);
    expect(socket.closed).toBeUndefined();
    expect(socket.events().map((event) => event.id)).toEqual(ids);
    expect(socket.frames.filter((frame) => frame.type === 'herald.gap')).toEqual([]);
    expect(await bufferedHighWater(node)).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
    socket.terminate();
  });

  it("keeps a slow resuming client's socket open while Redis keeps dropping the node's command connection", async () => {
    const ids = await publishBacklog(publisher, 'interrupted', BACKLOG);
    const since = `${parseEventId(ids[0] ?? '')?.ms}-0`;
    const socket = await TestClient.connect(`${node.wsUrl}?since=${since}`, { token: await signTestToken({ sub: 'interrupted' }) });
    const tcp = (socket.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    const killer = redis.client();
    let kills = 0;
    try {
      for (let round = 0; round < 40 && !socket.frames.some((frame) => frame.type === 'herald.resumed'); round++) {
        tcp.pause();
        kills += Number(await killer.call('CLIENT', 'KILL', 'TYPE', 'normal'));
        await delay(40);
        tcp.resume();
        await delay(20);
      }
    } finally {
      tcp.resume();
      killer.disconnect();
    }
    await socket.waitFor('herald.resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed') || socket.closed !== undefined, 30_000);
    expect(kills).toBeGreaterThan(5);
    expect(socket.closed).toBeUndefined();
    expect(socket.events().map((event) => event.id)).toEqual(ids);
    socket.terminate();
  });

  it('keeps a resuming client that stopped reading within the limit, while another socket of its user resumes in full', async () => {
    const ids = await publishBacklog(publisher, 'stalled', 200);
    const since = `${parseEventId(ids[0] ?? '')?.ms}-0`;
    const token = await signTestToken({ sub: 'stalled' });
    const stalled = await TestClient.connect(`${node.wsUrl}?since=${since}`, { token });
    (stalled.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    await bufferedHighWater(node);
    const reader = await TestClient.connect(`${node.wsUrl}?since=${since}`, { token });
    await reader.waitFor('herald.resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'), 30_000);
    expect(reader.events().map((event) => event.id)).toEqual(ids);
    await delay(200);
    expect(await bufferedHighWater(node)).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
    stalled.terminate();
    reader.terminate();
  });

  it("keeps other users' upgrades fast while 200 sockets resume a 12 MB history and never read", async () => {
    const ids = await publishBacklog(publisher, 'hoarder', BACKLOG);
    const since = `${parseEventId(ids[0] ?? '')?.ms}-0`;
    const hoarder = await signTestToken({ sub: 'hoarder' });
    const stalled: Socket[] = [];
    const resumes = Array.from({ length: 200 }, async () => {
      // Resumers that never read: each holds what the buffers take (kernel, then a page in uWS), no more.
      stalled.push(await resumeWithoutReading(node.port, `/ws?since=${since}`, hoarder));
    });
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => signTestToken({ sub: `bystander-${i}` })));
    const upgradeMs: number[] = [];
    const bystanders = tokens.map(async (token, i) => {
      await delay(i * 10);
      const started = Date.now();
      const socket = await TestClient.connect(node.wsUrl, { token });
      upgradeMs.push(Date.now() - started);
      socket.terminate();
    });
    await Promise.all([...resumes, ...bystanders]);
    for (const socket of stalled) socket.destroy();
    expect(upgradeMs).toHaveLength(50);
    expect(percentile(upgradeMs, 99)).toBeLessThan(STORM_UPGRADE_P99_BOUND_MS);
  });
});
