import { MemoryBroker, MemoryBus } from '../src/index.js';
import { describeBrokerContract } from './broker-contract.js';

describeBrokerContract('memory', async (options) => {
  const bus = new MemoryBus(options);
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
  it('expires a user history after its TTL, as Redis does', async () => {
    let now = 1_000_000;
    const bus = new MemoryBus({ historyTtlSeconds: 10, now: () => now });
    const broker = new MemoryBroker({ bus });
    await broker.start();
    await broker.publish({ user_id: 'u', type: 'agent_started', data: null });
    now += 9_000;
    expect((await broker.readHistory('u', '0-0', 10)).history).toBeDefined();
    now += 2_000;
    expect((await broker.readHistory('u', '0-0', 10)).history).toBeUndefined();
  });

  it('starts a new epoch after a history expires, so new ids sort after the old ones', async () => {
    let now = 1_000_000;
    const bus = new MemoryBus({ historyTtlSeconds: 10, now: () => now });
    const broker = new MemoryBroker({ bus });
    await broker.start();
    const before = (await broker.publish({ user_id: 'u', type: 'agent_started', data: null })).event_id;
    now += 20_000;
    const after = (await broker.publish({ user_id: 'u', type: 'agent_started', data: null })).event_id;
    expect(before).toBe('1000000-1');
    expect(after).toBe('1020000-1');
  });
});
