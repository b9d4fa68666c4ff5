import { DEFAULT_RETENTION } from '@herald/publisher-sdk/storage';
import { MemoryBroker, MemoryBus } from '../src/index.js';
import { describeBrokerContract } from './broker-contract.js';

describeBrokerContract('memory', async (options) => {
  const bus = new MemoryBus({ retention: { ...DEFAULT_RETENTION, ...options.retention } });
  return {
    async node() {
      const broker = new MemoryBroker({ bus });
      await broker.start();
      return broker;
    },
    async close() {},
  };
});

describe('memory broker history', () => {
  const retention = { maxEvents: 100, ttlSeconds: 10, positionTtlSeconds: 60 };

  it("expires a user's events after the history TTL and their position after the position TTL, as Redis does", async () => {
    let now = 1_000_000;
    const bus = new MemoryBus({ retention, now: () => now });
    const broker = new MemoryBroker({ bus });
    await broker.start();
    const id = (await broker.publish({ user_id: 'u', type: 'agent_started', data: null })).event_id;
    now += 9_000;
    expect((await broker.readHistory('u', '0-0', { events: 10, bytes: 1 << 20 })).events.map((event) => event.id)).toEqual([id]);
    now += 2_000;
    expect(await broker.readHistory('u', '0-0', { events: 10, bytes: 1 << 20 })).toEqual({
      history: { epoch: 1_000_000, count: 1, oldest: undefined },
      events: [],
    });
    now += 50_000;
    expect((await broker.readHistory('u', '0-0', { events: 10, bytes: 1 << 20 })).history).toBeUndefined();
  });

  it('keeps the position of a user who connects, even without events', async () => {
    let now = 1_000_000;
    const bus = new MemoryBus({ retention, now: () => now });
    const broker = new MemoryBroker({ bus });
    await broker.start();
    const position = await broker.openHistory('u');
    now += 50_000;
    expect(await broker.openHistory('u')).toBe(position);
    now += 50_000;
    expect(await broker.openHistory('u')).toBe(position);
  });

  it('starts a new epoch after a position expires, so new ids sort after the old ones', async () => {
    let now = 1_000_000;
    const bus = new MemoryBus({ retention, now: () => now });
    const broker = new MemoryBroker({ bus });
    await broker.start();
    const before = (await broker.publish({ user_id: 'u', type: 'agent_started', data: null })).event_id;
    now += 70_000;
    const after = (await broker.publish({ user_id: 'u', type: 'agent_started', data: null })).event_id;
    expect(before).toBe('1000000-1');
    expect(after).toBe('1070000-1');
  });
});
