import { HeraldValidationError, joinEventPayload, parseEventId, type PublishRequest } from '@herald/protocol';
import { MAX_EPOCH_LEAD_MS, parseReceiptRequest, type RetentionPolicy } from '@herald/publisher-sdk/storage';
import type { Broker } from '../src/index.js';
import { broadcastResultLike } from '../../test/support/expectations.js';
import { waitUntil } from '../../test/support/wait.js';

/** Brokers from one fixture share one backend, as gateway nodes share one Redis. */
export interface BrokerFixture {
  /** A new, started broker: one more node. */
  node(): Promise<Broker>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** Retention the deployment is configured with (default: the defaults). */
  readonly retention?: Partial<RetentionPolicy>;
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
export function describeBrokerContract(name: string, setup: (options: FixtureOptions) => Promise<BrokerFixture>): void {
  describe(`${name} broker contract`, () => {
    let fixture: BrokerFixture;
    const opened: Broker[] = [];

    async function node(): Promise<Broker> {
      const broker = await fixture.node();
      opened.push(broker);
      return broker;
    }

    beforeEach(async () => {
      fixture = await setup({});
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

    it('keeps each event in the user history, readable after any id', async () => {
      const broker = await node();
      const ids: string[] = [];
      for (let n = 0; n < 4; n++) ids.push((await broker.publish(event('kim', n))).event_id);
      const [epoch] = (ids[0] ?? '').split('-');
      const page = await broker.readHistory('kim', ids[0] as string, { events: 10, bytes: 1 << 20 });
      expect(page.history).toEqual({ epoch: Number(epoch), count: 4, oldest: parseEventId(ids[0] as string) });
      expect(page.events.map((entry) => entry.id)).toEqual(ids.slice(1));
      const payload = JSON.parse(page.events[0]?.payload.toString() ?? '') as { id: string; data: unknown };
      expect(payload).toMatchObject({ id: ids[1], data: { n: 1 } });
      const limited = await broker.readHistory('kim', ids[0] as string, { events: 2, bytes: 1 << 20 });
      expect(limited.events.map((entry) => entry.id)).toEqual(ids.slice(1, 3));
    });

    it('bounds a history page by bytes as well as by count, and says when the bytes cut it short', async () => {
      const broker = await node();
      const ids: string[] = [];
      for (let n = 0; n < 6; n++) {
        ids.push((await broker.publish({ user_id: 'kit', type: 'agent_thinking', data: 'x'.repeat(1000) })).event_id);
      }
      const bounded = await broker.readHistory('kit', '0-0', { events: 10, bytes: 2500 });
      expect(bounded.events.map((entry) => entry.id)).toEqual(ids.slice(0, 2));
      expect(bounded.truncated).toBe(true);
      // One event always comes, however small the byte bound.
      const single = await broker.readHistory('kit', ids[1] as string, { events: 10, bytes: 1 });
      expect(single.events.map((entry) => entry.id)).toEqual([ids[2]]);
      const rest = await broker.readHistory('kit', ids[2] as string, { events: 10, bytes: 1 << 20 });
      expect(rest.events.map((entry) => entry.id)).toEqual(ids.slice(3));
      expect(rest.truncated).toBeUndefined();
      const counted = await broker.readHistory('kit', '0-0', { events: 3, bytes: 1 << 20 });
      expect(counted.events.map((entry) => entry.id)).toEqual(ids.slice(0, 3));
      expect(counted.truncated).toBeUndefined();
    });

    it('reads the first page of several users at once, each as readHistory would', async () => {
      const broker = await node();
      const ids = [(await broker.publish(event('ola', 0))).event_id, (await broker.publish(event('ola', 1))).event_id];
      const other = (await broker.publish(event('oscar', 0))).event_id;
      const limit = { events: 10, bytes: 1 << 20 };
      const pages = await broker.readHistories(
        [
          { userId: 'ola', after: ids[0] as string },
          { userId: 'oscar', after: '0-0' },
          { userId: 'nobody-at-all', after: '0-0' },
        ],
        limit,
      );
      expect(pages).toEqual([
        await broker.readHistory('ola', ids[0] as string, limit),
        await broker.readHistory('oscar', '0-0', limit),
        { history: undefined, events: [] },
      ]);
      expect(pages[0]?.events.map((entry) => entry.id)).toEqual([ids[1]]);
      expect(pages[1]?.events.map((entry) => entry.id)).toEqual([other]);
    });

    it('reports no history for a user never published to', async () => {
      const broker = await node();
      expect(await broker.readHistory('nobody-here', '1-0', { events: 10, bytes: 1 << 20 })).toEqual({ history: undefined, events: [] });
    });

    it('opens a history before its first event, and numbers events within it from 1', async () => {
      const broker = await node();
      const position = await broker.openHistory('lee');
      const [epoch, count] = position.split('-');
      expect(count).toBe('0');
      expect(Number(epoch)).toBeGreaterThan(Date.now() - 60_000);
      expect(await broker.openHistory('lee')).toBe(position);
      expect((await broker.readHistory('lee', position, { events: 10, bytes: 1 << 20 })).history).toEqual({ epoch: Number(epoch), count: 0, oldest: undefined });
      const ids: string[] = [];
      for (let n = 0; n < 3; n++) ids.push((await broker.publish(event('lee', n))).event_id);
      expect(ids).toEqual([`${epoch}-1`, `${epoch}-2`, `${epoch}-3`]);
      expect(await broker.openHistory('lee')).toBe(`${epoch}-3`);
      const other = (await broker.publish(event('lee-other'))).event_id;
      expect(other.endsWith('-1')).toBe(true);
    });

    it('starts a new history after an id beyond the history, so that no id is handed out twice', async () => {
      const broker = await node();
      const ids: string[] = [];
      for (let n = 0; n < 3; n++) ids.push((await broker.publish(event('lou', n))).event_id);
      const [epoch] = (ids[0] ?? '').split('-');
      // Covered ids change nothing.
      expect(await broker.restartHistoryAfter('lou', `${epoch}-3`)).toEqual({ kind: 'behind', position: `${epoch}-3` });
      expect(await broker.restartHistoryAfter('lou', '1-1')).toEqual({ kind: 'behind', position: `${epoch}-3` });
      // Beyond: events 4 and 5 were numbered once and lost.
      const restart = await broker.restartHistoryAfter('lou', `${epoch}-5`);
      expect(restart.kind).toBe('restarted');
      const position = parseEventId(restart.kind === 'restarted' ? restart.position : '');
      expect(position?.seq).toBe(0);
      expect(position?.ms).toBeGreaterThan(Number(epoch));
      const next = (await broker.publish(event('lou', 3))).event_id;
      expect(next).toBe(`${position?.ms}-1`);
      // The events kept from the old history are still read after an id before them.
      const page = await broker.readHistory('lou', ids[0] as string, { events: 10, bytes: 1 << 20 });
      expect(page.events.map((entry) => entry.id)).toEqual([...ids.slice(1), next]);
      expect(page.history).toMatchObject({ epoch: position?.ms, count: 1 });
      // A user with no history at all gets one after the id; an epoch far ahead of the clock is refused.
      const fresh = await broker.restartHistoryAfter('lou-new', `${Date.now() + 60_000}-7`);
      expect(fresh.kind).toBe('restarted');
      expect(parseEventId(fresh.kind === 'restarted' ? fresh.position : '')?.ms).toBeGreaterThan(Date.now() + 59_000);
      expect(await broker.restartHistoryAfter('lou', `${Date.now() + 2 * MAX_EPOCH_LEAD_MS}-1`)).toEqual({ kind: 'implausible' });
    });

    it('keeps the positions of the users it is asked to, and creates none', async () => {
      const kept = await setup({ retention: { ttlSeconds: 1, positionTtlSeconds: 2 } });
      const broker = await kept.node();
      try {
        const last = (await broker.publish(event('mia'))).event_id;
        for (let i = 0; i < 3; i++) {
          await new Promise((resolve) => setTimeout(resolve, 900));
          await broker.keepPositions(['mia', 'mia-never']);
        }
        expect((await broker.readHistory('mia', last, { events: 10, bytes: 1 << 20 })).history).toMatchObject({ count: 1 });
        expect((await broker.readHistory('mia-never', '0-0', { events: 10, bytes: 1 << 20 })).history).toBeUndefined();
      } finally {
        await broker.close();
        await kept.close();
      }
    });

    it('trims old events beyond the configured number, keeping the newest', async () => {
      const trimmed = await setup({ retention: { maxEvents: 10 } });
      const broker = await trimmed.node();
      try {
        const ids: string[] = [];
        for (let n = 0; n < 300; n++) ids.push((await broker.publish(event('max', n))).event_id);
        const page = await broker.readHistory('max', ids[0] as string, { events: 1000, bytes: 1 << 20 });
        expect(page.history?.count).toBe(300);
        expect(page.history?.oldest).not.toEqual(parseEventId(ids[0] as string));
        expect(page.events.length).toBeGreaterThanOrEqual(10);
        expect(page.events.at(-1)?.id).toBe(ids[299]);
        expect(parseEventId(page.events[0]?.id ?? '')).toEqual(page.history?.oldest);
      } finally {
        await broker.close();
        await trimmed.close();
      }
    });

    it('publishes once per idempotency key and returns the original event for a retry', async () => {
      const broker = await node();
      const received = collect(broker);
      await broker.subscribe('ned');
      const request = { ...event('ned'), idempotency_key: 'order-42' };
      const first = await broker.publish(request);
      const retry = await broker.publish(request);
      expect(first.duplicate).toBe(false);
      expect(retry).toMatchObject({ event_id: first.event_id, duplicate: true, nodes_reached: 0 });
      const other = await broker.publish({ ...request, idempotency_key: 'order-43' });
      expect(other.event_id).not.toBe(first.event_id);
      await waitUntil('two events', () => received.length === 2);
      await settle();
      expect(received).toHaveLength(2);
      expect((await broker.readHistory('ned', '0-0', { events: 10, bytes: 1 << 20 })).events).toHaveLength(2);
    });

    it('sums the receipts of every subscribed node when asked to confirm', async () => {
      const [a, b, publisher] = [await node(), await node(), await node()];
      for (const [broker, attempted] of [[a, 2], [b, 1]] as const) {
        broker.onMessage((_userId, payload) => {
          const request = parseReceiptRequest(payload.toString());
          if (request) void broker.sendReceipt(request.receipt, { ref: request.ref, id: request.id, node: `n${attempted}`, attempted, successful: attempted - 1 });
        });
        await broker.subscribe('ola');
      }
      const result = await publisher.publish({ ...event('ola'), confirm: true, confirm_timeout_ms: 5000 });
      expect(result).toMatchObject({ nodes_reached: 2, connections_attempted: 3, successful_sends: 1, errors: [] });
    });

    it("keeps the receipts of two users' events apart when their ids are the same", async () => {
      const [a, b, publisher] = [await node(), await node(), await node()];
      // Both histories restart after the same id, so both users' next events get one id.
      const after = `${Date.now() + 60_000}-9`;
      await publisher.restartHistoryAfter('pia', after);
      await publisher.restartHistoryAfter('quin', after);
      for (const [broker, userId, attempted] of [[a, 'pia', 3], [b, 'quin', 1]] as const) {
        broker.onMessage((_userId, payload) => {
          const request = parseReceiptRequest(payload.toString());
          if (request) void broker.sendReceipt(request.receipt, { ref: request.ref, id: request.id, node: 'same-node', attempted, successful: attempted });
        });
        await broker.subscribe(userId);
      }
      for (let round = 0; round < 3; round++) {
        const [pia, quin] = await Promise.all(
          ['pia', 'quin'].map((userId) => publisher.publish({ ...event(userId, round), confirm: true, confirm_timeout_ms: 5000 })),
        );
        expect(pia?.event_id).toBe(quin?.event_id);
        expect(pia).toMatchObject({ connections_attempted: 3, successful_sends: 3, errors: [] });
        expect(quin).toMatchObject({ connections_attempted: 1, successful_sends: 1, errors: [] });
      }
    });

    it('reports the nodes that did not confirm in time', async () => {
      const [silent, publisher] = [await node(), await node()];
      await silent.subscribe('pat');
      const result = await publisher.publish({ ...event('pat'), confirm: true, confirm_timeout_ms: 200 });
      expect(result).toMatchObject({
        nodes_reached: 1,
        connections_attempted: 0,
        successful_sends: 0,
        errors: [{ code: 'receipt_timeout', message: '1 of 1 gateway node(s) did not confirm delivery within 200 ms' }],
      });
    });

    it('confirms at once when no node holds the user', async () => {
      const publisher = await node();
      const result = await publisher.publish({ ...event('quinn'), confirm: true });
      expect(result).toMatchObject({ nodes_reached: 0, connections_attempted: 0, successful_sends: 0, errors: [] });
    });
  });
}
