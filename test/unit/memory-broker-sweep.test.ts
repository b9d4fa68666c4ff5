import { MemoryBroker, MemoryBus } from '@herald/gateway';
import { waitUntil } from '../support/wait.js';

const EMPTY: ReturnType<MemoryBus['sizes']> = { histories: 0, historiesWithEvents: 0, idempotencyKeys: 0, subscribedUsers: 0, receiptInboxes: 0 };

describe('memory broker sweep', () => {
  let now: number;
  let bus: MemoryBus;
  let broker: MemoryBroker;

  async function start(retention: { ttlSeconds: number; positionTtlSeconds: number }, idempotencyWindowSeconds: number) {
    now = 1_000_000;
    bus = new MemoryBus({ retention: { maxEvents: 10, ...retention }, idempotencyWindowSeconds, now: () => now, sweepIntervalMs: 5 });
    broker = new MemoryBroker({ bus });
    await broker.start();
  }

  afterEach(async () => {
    await broker.close();
  });

  it('frees every history and idempotency key of 100 000 users once they expire, without being touched', async () => {
    await start({ ttlSeconds: 1, positionTtlSeconds: 1 }, 1);
    const users = 100_000;
    for (let i = 0; i < users; i += 1) {
      await broker.publish({ user_id: `user-${i}`, type: 'agent_thinking', idempotency_key: `key-${i}`, data: { i } });
    }
    const full = bus.sizes();
    expect(full).toEqual({ ...EMPTY, histories: users, historiesWithEvents: users, idempotencyKeys: users });

    now += 1_000;
    await waitUntil('the sweep to empty the bus', () => bus.sizes().histories === 0 && bus.sizes().idempotencyKeys === 0, 5_000);
    expect(bus.sizes()).toEqual(EMPTY);
  });

  it('keeps a position whose entries were swept, so numbering continues and the position is the same', async () => {
    await start({ ttlSeconds: 1, positionTtlSeconds: 60 }, 1);
    const first = await broker.publish({ user_id: 'u', type: 'agent_thinking', data: null });
    const position = await broker.openHistory('u');
    expect(position).toBe(first.event_id);

    now += 1_000;
    await waitUntil('the entries to be swept', () => bus.sizes().historiesWithEvents === 0, 2_000);
    expect(bus.sizes()).toMatchObject({ histories: 1, historiesWithEvents: 0 });
    expect(await broker.readHistory('u', '0-0', { events: 10, bytes: 1 << 20 })).toEqual({ history: { epoch: 1_000_000, count: 1, oldest: undefined }, events: [] });
    expect(await broker.openHistory('u')).toBe(position);
    expect((await broker.publish({ user_id: 'u', type: 'agent_thinking', data: null })).event_id).toBe('1000000-2');

    now += 60_000;
    await waitUntil('the position to be swept', () => bus.sizes().histories === 0, 2_000);
    expect(bus.sizes()).toEqual(EMPTY);
  });

  it('sweeps an expired position behind one that was kept alive since', async () => {
    await start({ ttlSeconds: 1, positionTtlSeconds: 60 }, 1);
    await broker.publish({ user_id: 'kept', type: 'agent_thinking', data: null });
    await broker.publish({ user_id: 'gone', type: 'agent_thinking', data: null });
    now += 30_000;
    await broker.keepPositions(['kept']);
    now += 30_000;
    await waitUntil('the expired position to be swept', () => bus.sizes().histories === 1, 2_000);
    expect((await broker.readHistory('kept', '0-0', { events: 10, bytes: 1 << 20 })).history).toBeDefined();
    expect((await broker.readHistory('gone', '0-0', { events: 10, bytes: 1 << 20 })).history).toBeUndefined();
  });

  it('removes at most the given number of entries per slice', async () => {
    await start({ ttlSeconds: 1, positionTtlSeconds: 1 }, 1);
    await broker.close(); // no timer: the test runs the slices
    for (let i = 0; i < 1_000; i += 1) await bus.append(`user-${i}`, 'body', now, `key-${i}`, undefined);
    now += 1_000;
    const total = () => Object.values(bus.sizes()).reduce((sum, size) => sum + size, 0);
    expect(total()).toBe(3_000);
    expect(bus.sweep(100)).toBe(false);
    expect(total()).toBe(2_900);
    let slices = 1;
    while (total() > 0) {
      bus.sweep(100);
      slices += 1;
    }
    expect(slices).toBe(30);
    expect(bus.sweep(100)).toBe(true);
  });

  it('honours an idempotency key until its window ends, and forgets it after', async () => {
    await start({ ttlSeconds: 1, positionTtlSeconds: 60 }, 5);
    const request = { user_id: 'u', type: 'agent_thinking', idempotency_key: 'k', data: null } as const;
    const original = await broker.publish(request);

    now += 4_999;
    await new Promise((resolve) => setTimeout(resolve, 30)); // several sweeps run
    expect(bus.sizes().idempotencyKeys).toBe(1);
    expect(await broker.publish(request)).toMatchObject({ event_id: original.event_id, duplicate: true });

    now += 1;
    await waitUntil('the key to be swept', () => bus.sizes().idempotencyKeys === 0, 2_000);
    const again = await broker.publish(request);
    expect(again).toMatchObject({ duplicate: false, event_id: '1000000-2' });
  });

  it('stops sweeping when its last broker closes', async () => {
    await start({ ttlSeconds: 1, positionTtlSeconds: 1 }, 1);
    await broker.publish({ user_id: 'u', type: 'agent_thinking', data: null });
    await broker.close();
    now += 1_000;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(bus.sizes().histories).toBe(1);
  });
});

describe('memory broker close', () => {
  it("forgets the closed broker's receipt inbox", async () => {
    const bus = new MemoryBus();
    const broker = new MemoryBroker({ bus });
    await broker.start();
    await broker.publish({ user_id: 'u', type: 'agent_thinking', data: null, confirm: true });
    expect(bus.sizes().receiptInboxes).toBe(1);
    await broker.close();
    expect(bus.sizes().receiptInboxes).toBe(0);
  });
});
