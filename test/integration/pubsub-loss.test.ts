import { eventIdPartsOfPayload, isControlFrame } from '@herald/protocol';
import { createPublisher } from '@herald/publisher-sdk';
import { storageLayout } from '@herald/publisher-sdk/storage';
import { TestClient } from '../support/clients.js';
import { CheckedClient, SteadyPublisher } from '../support/delivery-check.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { RespFrames, pubsubMessage } from '../support/resp-frames.js';
import { startTcpProxy, type ProxiedConnection, type TcpProxy } from '../support/tcp-proxy.js';
import { TEST_JWT_SECRET, signTestToken } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

const USERS = Array.from({ length: 6 }, (_, i) => `lossy-user-${i}`);
const DROP_EVERY = 7;

async function counter(node: GatewayProcess, name: string): Promise<number> {
  const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}{`) || entry.startsWith(`${name} `));
  return Number(line?.split(' ').at(-1) ?? 0);
}

describe('a pub/sub message lost on a live subscriber connection (real Redis; a proxy drops every 7th event)', () => {
  let redis: RedisServer;
  let link: TcpProxy;
  let node: GatewayProcess;
  let publisher: SteadyPublisher;
  let droppedByProxy = 0;
  let dropping = true;
  /** A user whose next event the subscriber connection loses. */
  let dropNextOf: string | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
    const streams = new Map<ProxiedConnection, RespFrames>();
    let events = 0;
    link = await startTcpProxy(redis.port, {
      onServerChunk: (connection, chunk) => {
        // Only the gateway's subscriber connection (it names itself herald-sub-<node>) loses messages.
        if (!connection.clientBytes().includes('herald-sub-')) return chunk;
        let frames = streams.get(connection);
        if (!frames) streams.set(connection, (frames = new RespFrames()));
        const kept = frames.push(chunk).filter((value) => {
          const message = pubsubMessage(value);
          if (!message || !eventIdPartsOfPayload(message.payload)) return true;
          if (dropNextOf !== undefined && message.payload.includes(`"user_id":${JSON.stringify(dropNextOf)}`)) {
            dropNextOf = undefined;
            return false;
          }
          events += 1;
          if (!dropping || events % DROP_EVERY !== 0) return true;
          droppedByProxy += 1;
          return false;
        });
        return Buffer.concat(kept);
      },
    });
    node = await startGatewayProcess({ REDIS_URL: `redis://127.0.0.1:${link.port}`, JWT_SECRET: TEST_JWT_SECRET, NODE_ENV: 'production' });
    publisher = new SteadyPublisher(redis.url, USERS, 200);
  });
  afterAll(async () => {
    await publisher.stop();
    await publisher.close();
    await node.stop('SIGKILL');
    await link.close();
    await redis.stop();
  });

  it('fills each hole from history: every socket gets every event once, in order, with no herald.gap', async () => {
    const clients = USERS.map((userId) => CheckedClient.open(userId, node.wsUrl));
    await waitUntil('every client to be welcomed', () => clients.every((client) => client.start !== undefined));
    publisher.start();
    await delay(2500);
    // A hole shows when the next event arrives: the last events of each user pass untouched.
    dropping = false;
    await delay(300);
    await publisher.stop();
    const owed = (client: CheckedClient) => (publisher.published.get(client.userId) ?? []).length;
    await waitUntil('every client to have every event', () => clients.every((client) => client.received.length >= owed(client))).catch(
      () => undefined,
    );
    await delay(100);
    const problems = [
      ...publisher.problems(),
      ...clients.flatMap((client) => client.problems(publisher.published.get(client.userId) ?? [])),
      ...clients.filter((client) => client.gaps.length > 0).map((client) => `${client.userId}: told of a gap history could cover`),
      ...clients.filter((client) => client.closes.length > 0).map((client) => `${client.userId}: its socket was closed (${JSON.stringify(client.closes)}) ${node.output().slice(-1500)}`),
    ];
    for (const client of clients) client.close();
    expect(problems).toEqual([]);
    expect(droppedByProxy).toBeGreaterThan(20);
    expect(await counter(node, 'herald_sequence_holes_total')).toBeGreaterThan(0);
  });

  it('delivers the end of a history that pub/sub lost right before a new history began, then herald.gap', async () => {
    const userId = 'epoch-user';
    const socket = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: userId }) });
    const sdk = createPublisher({ redisUrl: redis.url });
    const client = redis.client();
    try {
      const first = await sdk.agentThinking(userId, 'r1', { n: 1 });
      await socket.waitFor('the first event', () => socket.events().length === 1);
      dropNextOf = userId;
      const second = await sdk.agentThinking(userId, 'r1', { n: 2 });
      await waitUntil('the second event to be lost on the way', () => dropNextOf === undefined);
      // The user's position is lost (evicted, say) while its history stays: the next event begins a new history.
      await client.del(storageLayout().userSequence(userId));
      const third = await sdk.agentThinking(userId, 'r1', { n: 3 });
      expect(third.event_id.split('-')[0]).not.toBe(first.event_id.split('-')[0]);
      await socket.waitFor('three events', () => socket.events().length === 3);
      await delay(100);
      const seen = socket.frames.filter((frame) => frame.type !== 'herald.welcome');
      expect(seen.map((frame) => (isControlFrame(frame) ? frame.type : frame.id))).toEqual([
        first.event_id,
        second.event_id,
        'herald.gap',
        third.event_id,
      ]);
    } finally {
      await socket.close();
      client.disconnect();
      await sdk.close();
    }
  });

  it('delivers, after herald.gap, an event whose history this node cannot read (a publisher on another database number), and reads history once for it', async () => {
    const userId = 'elsewhere-user';
    const socket = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: userId }) });
    const elsewhere = createPublisher({ redisUrl: `${redis.url}/1` });
    try {
      const holesBefore = await counter(node, 'herald_sequence_holes_total');
      const event = await elsewhere.agentThinking(userId, 'r1', { n: 1 });
      await socket.waitFor('the event', () => socket.events().length === 1);
      await delay(300);
      const seen = socket.frames.filter((frame) => frame.type !== 'herald.welcome');
      expect(seen.map((frame) => (isControlFrame(frame) ? frame.type : frame.id))).toEqual(['herald.gap', event.event_id]);
      expect((await counter(node, 'herald_sequence_holes_total')) - holesBefore).toBeLessThanOrEqual(2);
    } finally {
      await socket.close();
      await elsewhere.close();
    }
  });
});
