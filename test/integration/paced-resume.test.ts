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

describe('a client far behind (real Redis, a real gateway process, MAX_BUFFERED_BYTES 256 KB)', () => {
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
});
