import { HeraldValidationError, joinEventPayload, type PublishRequest } from '@herald/protocol';
import type { Broker } from '../src/index.js';
import { broadcastResultLike } from '../../test/support/expectations.js';
import { waitUntil } from '../../test/support/wait.js';

/** Brokers from one fixture share one backend, as gateway nodes share one Redis. */
export interface BrokerFixture {
  /** A new, started broker: one more node. */
  node(): Promise<Broker>;
  close(): Promise<void>;
}

interface Received {
  readonly userId: string;
  readonly payload: string;
}

function collect(broker: Broker): Received[] {
  const received: Received[] = [];
  broker.onMessage((userId, payload) => received.push({ userId, payload: payload.toString('utf8') }));
  return received;
}

function event(userId: string, n = 0): PublishRequest {
  return { user_id: userId, type: 'agent_thinking', run_id: 'run-1', data: { n } };
}

/** Gives in-flight deliveries time to arrive, for asserting that something did NOT arrive. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 100));
}

/** The behaviour every broker implementation must have. */
export function describeBrokerContract(name: string, setup: () => Promise<BrokerFixture>): void {
  describe(`${name} broker contract`, () => {
    let fixture: BrokerFixture;
    const opened: Broker[] = [];

    async function node(): Promise<Broker> {
      const broker = await fixture.node();
      opened.push(broker);
      return broker;
    }

    beforeEach(async () => {
      fixture = await setup();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((broker) => broker.close()));
      await fixture.close();
    });

    it('is connected once started', async () => {
      expect((await node()).health().connected).toBe(true);
    });

    it('delivers an event to a subscribed node as exactly the published payload', async () => {
      const broker = await node();
      const received = collect(broker);
      await broker.subscribe('alice');
      const result = await broker.publish({ user_id: 'alice', type: 'agent_started', run_id: 'r1', data: { a: 1 } });
      await waitUntil('the event', () => received.length === 1);
      const [message] = received;
      expect(message?.userId).toBe('alice');
      const envelope = JSON.parse(message?.payload ?? '') as Record<string, unknown>;
      expect(envelope).toEqual({
        id: result.event_id,
        type: 'agent_started',
        ts: Date.parse(result.timestamp),
        user_id: 'alice',
        run_id: 'r1',
        data: { a: 1 },
      });
      expect(message?.payload.startsWith(joinEventPayload(result.event_id, ''))).toBe(true);
    });

    it('returns a BroadcastResult naming the event and the nodes it reached', async () => {
      const [a, b, c] = [await node(), await node(), await node()];
      await a.subscribe('bob');
      await b.subscribe('bob');
      await c.subscribe('someone-else');
      const result = await c.publish(event('bob'));
      expect(result).toEqual(broadcastResultLike({ user_id: 'bob', event_type: 'agent_thinking', nodes_reached: 2 }));
    });

    it('delivers to every subscribed node and to no other', async () => {
      const [a, b, c] = [await node(), await node(), await node()];
      const [ra, rb, rc] = [collect(a), collect(b), collect(c)];
      await a.subscribe('carol');
      await b.subscribe('carol');
      await c.subscribe('dave');
      await a.publish(event('carol'));
      await waitUntil('both subscribed nodes to receive', () => ra.length === 1 && rb.length === 1);
      await settle();
      expect(rc).toEqual([]);
    });

    it('reaches no node and delivers nothing when nobody is subscribed', async () => {
      const broker = await node();
      const received = collect(broker);
      await broker.subscribe('erin');
      const result = await broker.publish(event('frank'));
      expect(result.nodes_reached).toBe(0);
      await settle();
      expect(received).toEqual([]);
    });

    it("delivers a user's events in publish order, with increasing ids", async () => {
      const broker = await node();
      const received = collect(broker);
      await broker.subscribe('gina');
      const ids: string[] = [];
      for (let n = 0; n < 50; n++) ids.push((await broker.publish(event('gina', n))).event_id);
      await waitUntil('50 events', () => received.length === 50);
      const delivered = received.map((message) => JSON.parse(message.payload) as { id: string; data: { n: number } });
      expect(delivered.map((envelope) => envelope.data.n)).toEqual([...Array(50).keys()]);
      expect(delivered.map((envelope) => envelope.id)).toEqual(ids);
      const sorted = [...ids].sort((x, y) => {
        const [xm, xs] = x.split('-').map(Number) as [number, number];
        const [ym, ys] = y.split('-').map(Number) as [number, number];
        return xm - ym || xs - ys;
      });
      expect(sorted).toEqual(ids);
      expect(new Set(ids).size).toBe(50);
    });

    it('stops delivering after unsubscribe', async () => {
      const broker = await node();
      const received = collect(broker);
      await broker.subscribe('hank');
      await broker.publish(event('hank', 1));
      await waitUntil('the first event', () => received.length === 1);
      await broker.unsubscribe('hank');
      const result = await broker.publish(event('hank', 2));
      expect(result.nodes_reached).toBe(0);
      await settle();
      expect(received).toHaveLength(1);
    });

    it('refuses invalid events and publishes nothing', async () => {
      const broker = await node();
      const received = collect(broker);
      await broker.subscribe('ivy');
      const invalid: unknown[] = [
        { user_id: 'ivy', type: 'Bad Type', data: null },
        { user_id: '', type: 'agent_started', data: null },
        { user_id: 'ivy', type: 'agent_started', data: 'x'.repeat(70_000) },
        { user_id: 'ivy', type: 'agent_started', run_id: '', data: null },
      ];
      for (const request of invalid) {
        await expect(broker.publish(request as PublishRequest)).rejects.toBeInstanceOf(HeraldValidationError);
      }
      await settle();
      expect(received).toEqual([]);
    });

    it('refuses to subscribe an invalid user id', async () => {
      const broker = await node();
      await expect(broker.subscribe('bad\u0000id')).rejects.toBeInstanceOf(HeraldValidationError);
    });

    it('is disconnected after close and refuses further work', async () => {
      const broker = await fixture.node();
      await broker.close();
      expect(broker.health().connected).toBe(false);
      await expect(broker.subscribe('jack')).rejects.toThrow();
      await expect(broker.publish(event('jack'))).rejects.toThrow();
    });
  });
}
