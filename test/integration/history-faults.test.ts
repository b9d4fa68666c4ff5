import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareEventIds, isControlFrame, parseEventId } from '@herald/protocol';
import { Redis } from 'ioredis';
import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import { storageLayout } from '@herald/publisher-sdk/storage';
import { TestClient } from '../support/clients.js';
import { arrivalProblems, CheckedClient, type Arrival } from '../support/delivery-check.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { TEST_JWT_SECRET, signTestToken } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

/** A raw socket's frames as the delivery checker reads them: events and gap notices in arrival order. */
function arrivalsOf(client: TestClient): Arrival[] {
  return client.frames.flatMap((frame): Arrival[] => {
    if (!isControlFrame(frame)) return [{ kind: 'event', id: frame.id, userId: frame.user_id, n: null }];
    return frame.type === 'herald.gap' ? [{ kind: 'gap', gap: frame }] : [];
  });
}

async function publishMany(publisher: Publisher, userId: string, count: number, inFlight = 25): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        next += 1;
        ids.push((await publisher.agentThinking(userId, 'r', null)).event_id);
      }
    }),
  );
  return ids.sort(compareEventIds);
}

describe('a resume longer than one page of history while publishing trims it (real Redis)', () => {
  let redis: RedisServer;
  let link: TcpProxy;
  let node: GatewayProcess;
  let publisher: Publisher;
  let slow = false;

  beforeAll(async () => {
    redis = await startRedisServer();
    link = await startTcpProxy(redis.port, {
      onConnection: (connection) => {
        connection.replyDelayMs = () => (slow && connection.clientBytes().includes('herald-cmd-') ? 1000 : 0);
      },
    });
    node = await startGatewayProcess({
      REDIS_URL: `redis://127.0.0.1:${link.port}`,
      JWT_SECRET: TEST_JWT_SECRET,
      NODE_ENV: 'production',
      HISTORY_MAX_EVENTS: '600',
      // Replies are held back 1 s on purpose: that is not a hung Redis.
      REDIS_COMMAND_TIMEOUT_MS: '5000',
    });
    publisher = createPublisher({ redisUrl: redis.url });
  });
  afterAll(async () => {
    await publisher.close();
    await node.stop('SIGKILL');
    await link.close();
    await redis.stop();
  });

  it('announces the events trimmed between two page reads with herald.gap, right where they are missing', async () => {
    const published = await publishMany(publisher, 'pager', 1000);
    const client = redis.client();
    const [oldest = ''] = (await client.xrange(storageLayout().userHistory('pager'), '-', '+', 'COUNT', 1))[0] ?? [];
    client.disconnect();
    const parts = parseEventId(oldest);
    const since = `${parts?.ms}-${(parts?.seq ?? 0) - 1}`;
    // A resume loads the read script into Redis first, so the next one reads at once.
    const warm = await TestClient.connect(`${node.wsUrl}?since=1-0`, { token: await signTestToken({ sub: 'warm-up' }) });
    await warm.waitFor('herald.resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
    warm.terminate();
    // The first page (500 events) is covered; its reply is held 1 s, while 900 more events trim
    // the history past the point where the second page starts.
    slow = true;
    const socket = await TestClient.connect(`${node.wsUrl}?since=${since}`, { token: await signTestToken({ sub: 'pager' }) });
    published.push(...(await publishMany(publisher, 'pager', 900)));
    await delay(1100);
    slow = false;
    await socket.waitFor('herald.resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'), 20_000);
    await waitUntil('the newest event', () => socket.events().some((event) => event.id === published.at(-1)));
    socket.terminate();
    const gaps = socket.frames.filter((frame) => frame.type === 'herald.gap');
    expect(gaps.length).toBeGreaterThan(0);
    expect(arrivalProblems('pager', since, arrivalsOf(socket), published)).toEqual([]);
  });
});

describe('Redis comes back from an older snapshot, without events it had acknowledged (real Redis, SAVE then SIGKILL)', () => {
  let dir: string;
  let redis: RedisServer;
  let node: GatewayProcess;
  let publisher: Publisher;

  /**
   * Publishes `kept` events (n = 0, 1…), snapshots Redis with SAVE, then publishes `lost` more:
   * a restart from the snapshot loses those after Redis acknowledged them.
   */
  async function publishAroundSnapshot(by: Publisher, userId: string, kept: number, lost: number): Promise<{ kept: string[]; lost: string[] }> {
    const ids: string[] = [];
    for (let n = 0; n < kept + lost; n++) {
      if (n === kept) {
        const admin = redis.client();
        await admin.save();
        admin.disconnect();
      }
      ids.push((await by.agentThinking(userId, 'r', { n })).event_id);
    }
    return { kept: ids.slice(0, kept), lost: ids.slice(kept) };
  }

  const clients: CheckedClient[] = [];
  /** A client SDK connection to the node, closed after the test whatever happens. */
  function openClient(userId: string): CheckedClient {
    const client = CheckedClient.open(userId, node.wsUrl);
    clients.push(client);
    return client;
  }
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });

  /** Publishes event `n` as soon as Redis takes it again. */
  async function publishWhenBack(by: Publisher, userId: string, n: number): Promise<string> {
    return waitUntil('a publish', () => by.agentThinking(userId, 'r', { n }).then((result) => result.event_id, () => false));
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-snapshot-'));
    redis = await startRedisServer({ dir });
    node = await startGatewayProcess({ REDIS_URL: redis.url, JWT_SECRET: TEST_JWT_SECRET, NODE_ENV: 'production' });
    publisher = createPublisher({ redisUrl: redis.url, commandTimeoutMs: 500 });
  });
  afterAll(async () => {
    await publisher.close();
    await node.stop('SIGKILL');
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('tells the sockets that had the lost events with herald.gap and never hands their ids out again', async () => {
    const client = openClient('rewound');
    await waitUntil('welcomed', () => client.start !== undefined);
    const { kept: before, lost } = await publishAroundSnapshot(publisher, 'rewound', 8, 2);
    await waitUntil('every event', () => client.received.length === 10);
    await redis.restart(); // SIGKILL, then start from the snapshot: events 9 and 10 are gone
    await waitUntil('the node to recover', async () => (await fetch(`${node.adminUrl}/readyz`)).status === 200);
    await waitUntil('the gap', () => client.gaps.length > 0);
    const after: string[] = [];
    for (let n = 10; n < 13; n++) after.push(await publishWhenBack(publisher, 'rewound', n));
    await waitUntil('the events after the gap', () => client.received.length === 13);
    client.close();
    expect(client.gaps).toEqual([{ type: 'herald.gap', since: lost.at(-1), oldest: null }]);
    for (const id of after) expect(compareEventIds(id, lost.at(-1) ?? '')).toBeGreaterThan(0);
    expect(client.problems([...before, ...lost, ...after])).toEqual([]);
  });

  it('never numbers an id twice for a publish in flight when Redis dies, from a client with ioredis defaults', async () => {
    // ioredis by default queues commands while disconnected and resends unanswered ones after a
    // reconnect: to the restarted server, with the run id of the one that died.
    const client = new Redis(redis.url);
    client.on('error', () => undefined);
    const borrowing = createPublisher({ redis: client, commandTimeoutMs: 500 });
    try {
      const { lost } = await publishAroundSnapshot(borrowing, 'resent', 3, 2);
      redis.signal('SIGSTOP');
      const inFlight = borrowing.agentThinking('resent', 'r', { n: 5 }).then(
        (result) => result.event_id,
        () => undefined,
      );
      await delay(300);
      await redis.restart(); // SIGKILL the frozen server; start it again from the snapshot
      const sixth = await inFlight;
      const seventh = await publishWhenBack(borrowing, 'resent', 6);
      for (const id of [sixth, seventh]) if (id !== undefined) expect(compareEventIds(id, lost.at(-1) ?? '')).toBeGreaterThan(0);
    } finally {
      await borrowing.close();
      client.disconnect();
    }
  });

  it('never lets publishes that reach the restarted Redis first take the lost ids, and tells every reader that had them', async () => {
    const live = openClient('reused');
    await waitUntil('welcomed', () => live.start !== undefined);
    const { kept, lost } = await publishAroundSnapshot(publisher, 'reused', 10, 2);
    await waitUntil('every event', () => live.received.length === 12);
    // A socket that holds only its welcome's position: the node's position, the last lost event.
    const quiet = openClient('reused');
    await waitUntil('welcomed', () => quiet.start !== undefined);
    expect(quiet.start).toBe(lost.at(-1));
    // The node is frozen until publishes have reached the restarted Redis: they begin a new history.
    node.process.kill('SIGSTOP');
    const fresh: string[] = [];
    try {
      await redis.restart();
      for (let n = 100; n < 103; n++) fresh.push(await publishWhenBack(publisher, 'reused', n));
    } finally {
      node.process.kill('SIGCONT');
    }
    for (const id of fresh) expect(compareEventIds(id, lost.at(-1) ?? '')).toBeGreaterThan(0);
    expect(fresh.map((id) => id.split('-')[1])).toEqual(['1', '2', '3']);
    await waitUntil('the node to recover', async () => (await fetch(`${node.adminUrl}/readyz`)).status === 200);
    const after: string[] = [];
    for (let n = 200; n < 202; n++) after.push((await publisher.agentThinking('reused', 'r', { n })).event_id);
    await waitUntil('the events after the gap', () => [live, quiet].every((client) => client.received.at(-1)?.id === after.at(-1)));
    for (const client of [live, quiet]) {
      client.close();
      expect(client.gaps).toEqual([{ type: 'herald.gap', since: lost.at(-1), oldest: fresh[0] }]);
      expect(client.stats).toMatchObject({ duplicatesDropped: 0, holesDetected: 0 });
    }
    expect(live.arrivals.map((arrival) => (arrival.kind === 'event' ? arrival.n : 'gap'))).toEqual([
      ...Array.from({ length: 12 }, (_, n) => n),
      'gap',
      100,
      101,
      102,
      200,
      201,
    ]);
    expect(quiet.received.map((event) => event.id)).toEqual([...fresh, ...after]);
    // A client that went away holding the last lost event resumes from it.
    const since = lost.at(-1) ?? '';
    const back = await TestClient.connect(`${node.wsUrl}?since=${since}`, { token: await signTestToken({ sub: 'reused' }) });
    await back.waitFor('herald.resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
    back.terminate();
    expect(back.frames.slice(1).map((frame) => ('id' in frame ? frame.id : frame))).toEqual([
      { type: 'herald.gap', since, oldest: fresh[0] },
      ...fresh,
      ...after,
      { type: 'herald.resumed', since, replayed: 5 },
    ]);
  });
});
