import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import { readRetention, storageLayout } from '@herald/publisher-sdk/storage';
import { TestClient } from '../support/clients.js';
import { CheckedClient } from '../support/delivery-check.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { signTestToken } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';

const RETENTION = { HISTORY_MAX_EVENTS: '10', HISTORY_TTL_SECONDS: '2', HISTORY_POSITION_TTL_SECONDS: '3600' };

describe('retention, set once on the gateways (real Redis, 2 gateway processes)', () => {
  let fleet: Fleet;
  let publisher: Publisher;
  const sockets: Array<{ close(): unknown }> = [];

  beforeAll(async () => {
    fleet = await startFleet(2, RETENTION);
    // A publisher configured with nothing but Redis: it follows what the gateways wrote there.
    publisher = createPublisher({ redisUrl: fleet.redis.url });
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(async () => {
    await publisher.close();
    await fleet.stop();
  });

  it('is written to Redis by the gateways and applied by every publisher', async () => {
    const redis = fleet.redis.client();
    try {
      expect(await readRetention(redis, storageLayout())).toEqual({ maxEvents: 10, ttlSeconds: 2, positionTtlSeconds: 3600 });
      await publisher.agentStarted('kept', 'r');
      const layout = storageLayout();
      // The ttl, and a tenth more (at least a second): expiries are refreshed once per tenth.
      expect(await redis.ttl(layout.userHistory('kept'))).toBeLessThanOrEqual(3);
      expect(await redis.ttl(layout.userSequence('kept'))).toBeGreaterThan(3500);
    } finally {
      redis.disconnect();
    }
  });

  it('tells a client that resumes from beyond the retained history about the gap', async () => {
    const first = (await publisher.agentStarted('trimmed', 'r')).event_id;
    const later: string[] = [];
    for (let n = 0; n < 250; n++) later.push((await publisher.agentThinking('trimmed', 'r', { n })).event_id);
    const client = CheckedClient.open('trimmed', fleet.nodes[0]?.wsUrl ?? '', { since: first });
    sockets.push(client);
    await waitUntil('the newest event', () => client.received.some((event) => event.id === later.at(-1)));
    expect(client.gaps).toHaveLength(1);
    expect(client.gaps[0]?.since).toBe(first);
    const oldest = client.gaps[0]?.oldest ?? '';
    // MAXLEN ~ trims whole stream nodes: at least 10 events are kept, not exactly 10.
    expect(later.indexOf(oldest)).toBeLessThanOrEqual(later.length - 10);
    expect(client.received.map((event) => event.id)).toEqual(later.slice(later.indexOf(oldest)));
  });

  it('lets a client that missed nothing resume without herald.gap after its history expired', async () => {
    const token = await signTestToken({ sub: 'quiet' });
    const live = await TestClient.connect(fleet.nodes[0]?.wsUrl ?? '', { token });
    sockets.push(live);
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) ids.push((await publisher.agentThinking('quiet', 'r', { n })).event_id);
    await live.waitForEvents(3);
    await live.close();
    const redis = fleet.redis.client();
    try {
      await waitUntil('the history to expire', async () => (await redis.exists(storageLayout().userHistory('quiet'))) === 0);
    } finally {
      redis.disconnect();
    }
    const back = await TestClient.connect(`${fleet.nodes[1]?.wsUrl ?? ''}?since=${ids.at(-1) ?? ''}`, { token });
    sockets.push(back);
    await back.waitFor('herald.resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
    const next = (await publisher.agentThinking('quiet', 'r', { n: 3 })).event_id;
    await back.waitForEvents(1);
    expect(back.frames.map((frame) => frame.type)).toEqual(['herald.welcome', 'herald.resumed', 'agent_thinking']);
    expect(back.frames[1]).toEqual({ type: 'herald.resumed', since: ids.at(-1), replayed: 0 });
    // The same history goes on: the next event follows the last one the client had.
    const [epoch, n] = (ids.at(-1) ?? '').split('-');
    expect(next).toBe(`${epoch}-${Number(n) + 1}`);
  });

  it('still tells a client that was behind when the history expired about the gap', async () => {
    const token = await signTestToken({ sub: 'behind' });
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) ids.push((await publisher.agentThinking('behind', 'r', { n })).event_id);
    const redis = fleet.redis.client();
    try {
      await waitUntil('the history to expire', async () => (await redis.exists(storageLayout().userHistory('behind'))) === 0);
    } finally {
      redis.disconnect();
    }
    const back = await TestClient.connect(`${fleet.nodes[0]?.wsUrl ?? ''}?since=${ids[0] ?? ''}`, { token });
    sockets.push(back);
    await back.waitFor('herald.resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
    expect(back.frames.slice(1)).toEqual([
      { type: 'herald.gap', since: ids[0], oldest: null },
      { type: 'herald.resumed', since: ids[0], replayed: 0 },
    ]);
  });
});

describe('positions of connected users (real Redis, 2 gateway processes, positions kept 2 s)', () => {
  let fleet: Fleet;
  let publisher: Publisher;

  beforeAll(async () => {
    fleet = await startFleet(2, { HISTORY_MAX_EVENTS: '10', HISTORY_TTL_SECONDS: '1', HISTORY_POSITION_TTL_SECONDS: '2' });
    publisher = createPublisher({ redisUrl: fleet.redis.url });
  });
  afterAll(async () => {
    await publisher.close();
    await fleet.stop();
  });

  async function resumeFrames(node: number, since: string, token: string): Promise<unknown[]> {
    const back = await TestClient.connect(`${fleet.nodes[node]?.wsUrl ?? ''}?since=${since}`, { token });
    try {
      await back.waitFor('herald.resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
      return back.frames.slice(1);
    } finally {
      back.terminate();
    }
  }

  it('outlive a quiet stretch longer than their ttl while a socket stays open, and the ttl after it closes', async () => {
    const token = await signTestToken({ sub: 'long-quiet' });
    const open = await TestClient.connect(fleet.nodes[0]?.wsUrl ?? '', { token });
    const last = (await publisher.agentThinking('long-quiet', 'r', { n: 0 })).event_id;
    await open.waitForEvents(1);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(await resumeFrames(1, last, token)).toEqual([{ type: 'herald.resumed', since: last, replayed: 0 }]);
    await open.close();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(await resumeFrames(1, last, token)).toEqual([{ type: 'herald.resumed', since: last, replayed: 0 }]);
  });
});
