import { MemoryBroker, MemoryBus } from '../src/index.js';
import { describeBrokerContract } from './broker-contract.js';

describeBrokerContract('memory', async () => {
  const bus = new MemoryBus();
  return {
    async node() {
      const broker = new MemoryBroker({ bus });
      await broker.start();
      return broker;
    },
    async close() {},
  };
});

describe('memory broker ids', () => {
  it('stays strictly increasing when the clock stands still or goes back', () => {
    const bus = new MemoryBus();
    expect([bus.nextEventId(100), bus.nextEventId(100), bus.nextEventId(90), bus.nextEventId(101)]).toEqual([
      '100-0',
      '100-1',
      '100-2',
      '101-0',
    ]);
  });
});
