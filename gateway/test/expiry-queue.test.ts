import { jest } from '@jest/globals';
import fc from 'fast-check';
import { ExpiryQueue, type Expiring } from '../src/transport/expiry-queue.js';

interface Item extends Expiring {
  readonly name: number;
}

describe('ExpiryQueue', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('expires exactly the items whose time came and that were not removed, in order of expiry, with one timer', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: 5_000 }), removed: fc.boolean() }), { maxLength: 200 }),
        fc.integer({ min: 0, max: 6_000 }),
        (specs, elapsed) => {
          jest.clearAllTimers();
          const start = Date.now();
          const expired: Item[] = [];
          const queue = new ExpiryQueue<Item>((item) => expired.push(item));
          const items = specs.map((spec, name) => ({ name, expiresAt: start + spec.at, expirySlot: -1 }));
          for (const item of items) queue.add(item);
          specs.forEach((spec, i) => {
            if (spec.removed) queue.remove(items[i] as Item);
          });
          expect(jest.getTimerCount()).toBeLessThanOrEqual(1);
          jest.advanceTimersByTime(elapsed);
          const due = items.filter((item, i) => !specs[i]?.removed && item.expiresAt <= start + elapsed);
          expect(new Set(expired)).toEqual(new Set(due));
          expect(expired.map((item) => item.expiresAt)).toEqual([...expired.map((item) => item.expiresAt)].sort((a, b) => a - b));
          expect(queue.size).toBe(items.length - specs.filter((spec) => spec.removed).length - due.length);
          for (const item of expired) expect(item.expirySlot).toBe(-1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('waits in steps for expiries beyond what one timer can wait (2^31 - 1 ms)', () => {
    const expired: Item[] = [];
    const queue = new ExpiryQueue<Item>((item) => expired.push(item));
    const far = { name: 1, expiresAt: Date.now() + 2 ** 32, expirySlot: -1 };
    queue.add(far);
    jest.advanceTimersByTime(2 ** 31);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(2 ** 31);
    expect(expired).toEqual([far]);
  });
});
