import { DEFAULT_RETENTION, MAX_EPOCH_LEAD_MS } from '@herald/publisher-sdk/storage';
import { pino } from 'pino';
import {
  compareEventIds,
  isControlFrame,
  parseServerFrame,
  type EventEnvelope,
  type ServerFrame,
} from '@herald/protocol';
import { MemoryBus } from '../src/broker/memory.js';
import { Hub } from '../src/hub/hub.js';
import type { Member, Outlet, SendOutcome } from '../src/hub/member.js';
import { GatewayMetrics } from '../src/metrics.js';
import { waitUntil } from '../../test/support/wait.js';
import { OutageBroker } from './support/outage-broker.js';

/** Records what the hub sends to one socket. */
class RecordingOutlet implements Outlet {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  refuse = false;

  send(frame: Buffer | string): SendOutcome {
    if (this.refuse) return 'refused';
    this.frames.push(parseServerFrame(frame.toString()));
    return 'sent';
  }

  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }

  async whenBufferedBelow(): Promise<void> {}

  events(): EventEnvelope[] {
    return this.frames.filter((frame): frame is EventEnvelope => !isControlFrame(frame));
  }

  ids(): string[] {
    return this.events().map((event) => event.id);
  }

  controls(): ServerFrame[] {
    return this.frames.filter((frame) => isControlFrame(frame));
  }
}

describe('hub', () => {
  let bus: MemoryBus;
  let broker: OutageBroker;
  let hub: Hub;
  let metrics: GatewayMetrics;

  async function setup(busOptions: ConstructorParameters<typeof MemoryBus>[0] = {}, maxHeldPerUser?: number): Promise<void> {
    bus = new MemoryBus(busOptions);
    broker = new OutageBroker(bus);
    await broker.start();
    metrics = new GatewayMetrics('n1', 100);
    hub = new Hub(broker, {
      nodeId: 'n1',
      logger: pino({ level: 'silent' }),
      metrics,
      historyPageSize: 4,
      historyRetryDelayMs: 10,
      historyResyncAfterMs: 300,
      ...(maxHeldPerUser === undefined ? {} : { maxHeldPerUser }),
    });
  }

  async function counter(name: string): Promise<number> {
    const metric = await metrics.registry.getSingleMetric(name)?.get();
    return metric?.values.reduce((sum, value) => sum + value.value, 0) ?? 0;
  }

  /** Every event after `since`, by number: what a socket welcomed at `since` must receive. */
  function after(since: string, ids: readonly string[]): string[] {
    const [epoch, n] = since.split('-').map(Number) as [number, number];
    return ids.filter((id) => {
      const [e, m] = id.split('-').map(Number) as [number, number];
      return e > epoch || (e === epoch && m > n);
    });
  }

  async function member(userId: string): Promise<{ member: Member; outlet: RecordingOutlet }> {
    await hub.join(userId);
    const outlet = new RecordingOutlet();
    return { member: hub.attach(userId, outlet).member, outlet };
  }

  const publish = (userId: string, n: number, extra: object = {}) =>
    broker.publish({ user_id: userId, type: 'agent_thinking', data: { n }, ...extra });

  beforeEach(() => setup());

  it('delivers live events to every socket of the user, once and in order', async () => {
    const [a, b] = [await member('ann'), await member('ann')];
    const other = await member('bob');
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push((await publish('ann', n)).event_id);
    await waitUntil('both sockets', () => a.outlet.ids().length === 5 && b.outlet.ids().length === 5);
    expect(a.outlet.ids()).toEqual(ids);
    expect(b.outlet.ids()).toEqual(ids);
    expect(other.outlet.frames).toEqual([]);
  });

  it('starts a new socket after the newest event the node has, not with old history', async () => {
    const first = await member('cal');
    await publish('cal', 0);
    await waitUntil('the first event', () => first.outlet.ids().length === 1);
    const late = await member('cal');
    const next = (await publish('cal', 1)).event_id;
    await waitUntil('the next event', () => late.outlet.ids().length === 1);
    expect(late.outlet.ids()).toEqual([next]);
  });

  it('resumes a socket from history, then live, with no duplicate or reordering at the seam', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 10; n++) ids.push((await publish('dee', n)).event_id);
    const { member: resuming, outlet } = await member('dee');
    // Live copies lag behind history, so the replay reads events that are still in flight.
    broker.liveDelayMs = 5;
    const resumed = hub.resume(resuming, ids[2] as string);
    const concurrent = Array.from({ length: 10 }, (_, n) => publish('dee', 10 + n));
    ids.push(...(await Promise.all(concurrent)).map((result) => result.event_id));
    await resumed;
    await waitUntil('every event after since', () => outlet.ids().length === 17);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(outlet.ids()).toEqual(ids.slice(3));
    expect(outlet.controls()).toContainEqual({ type: 'herald.resumed', since: ids[2], replayed: expect.any(Number) });
  });

  it('tells a resuming socket about a gap before what history still holds', async () => {
    await setup({ retention: { ...DEFAULT_RETENTION, maxEvents: 3 } });
    const ids: string[] = [];
    for (let n = 0; n < 10; n++) ids.push((await publish('eve', n)).event_id);
    const { member: resuming, outlet } = await member('eve');
    await hub.resume(resuming, ids[1] as string);
    expect(outlet.frames).toEqual([
      { type: 'herald.gap', since: ids[1], oldest: ids[7] },
      ...outlet.events(),
      { type: 'herald.resumed', since: ids[1], replayed: 3 },
    ]);
    expect(outlet.ids()).toEqual(ids.slice(7));
  });

  it('takes a since beyond the history as events Redis lost: a new history starts after it, with a gap', async () => {
    const last = (await publish('fay', 0)).event_id;
    const { member: resuming, outlet } = await member('fay');
    const [epoch, n] = last.split('-');
    const ahead = `${epoch}-${Number(n) + 5}`;
    await hub.resume(resuming, ahead);
    expect(outlet.frames).toEqual([
      { type: 'herald.gap', since: ahead, oldest: null },
      { type: 'herald.resumed', since: ahead, replayed: 0 },
    ]);
    // No id the client holds is handed out again: the next event is the first of a newer epoch.
    const next = (await publish('fay', 1)).event_id;
    expect(compareEventIds(next, ahead)).toBeGreaterThan(0);
    expect(next).toMatch(/-1$/);
    await waitUntil('live again', () => outlet.ids().length === 1);
    expect(outlet.ids()).toEqual([next]);
  });

  it('refuses a since implausibly far ahead and carries on live', async () => {
    await publish('fay2', 0);
    const { member: resuming, outlet } = await member('fay2');
    await hub.resume(resuming, `${Date.now() + 2 * MAX_EPOCH_LEAD_MS}-1`);
    expect(outlet.frames[0]).toMatchObject({ type: 'herald.error', code: 'invalid_since' });
    const next = (await publish('fay2', 1)).event_id;
    await waitUntil('live again', () => outlet.ids().length === 1);
    expect(outlet.ids()).toEqual([next]);
  });

  it('backfills events published while the broker connection was lost, once and in order', async () => {
    const { outlet } = await member('gus');
    const ids = [(await publish('gus', 0)).event_id];
    await waitUntil('the first event', () => outlet.ids().length === 1);
    broker.cut();
    expect(hub.ready).toBe(false);
    for (let n = 1; n < 8; n++) ids.push((await publish('gus', n)).event_id);
    broker.restore();
    await waitUntil('recovery', () => hub.ready);
    for (let n = 8; n < 10; n++) ids.push((await publish('gus', n)).event_id);
    await waitUntil('every event', () => outlet.ids().length === 10);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(outlet.ids()).toEqual(ids);
    expect(outlet.controls()).toEqual([]);
  });

  it('signals a gap when history was lost during the outage, then carries on', async () => {
    const { outlet } = await member('hal');
    const before = (await publish('hal', 0)).event_id;
    await waitUntil('the first event', () => outlet.ids().length === 1);
    broker.cut();
    await publish('hal', 1);
    bus.forget(); // Redis restarted without its data
    const after = (await publish('hal', 2)).event_id;
    broker.restore();
    await waitUntil('recovery', () => hub.ready && outlet.ids().length === 2);
    expect(outlet.frames.slice(-2)).toEqual([
      { type: 'herald.gap', since: before, oldest: after },
      expect.objectContaining({ id: after }),
    ]);
  });

  it('keeps sockets open while history is briefly unreadable after an outage, and catches them up once it is', async () => {
    const { outlet } = await member('ian');
    broker.cut();
    const published = (await publish('ian', 0)).event_id;
    broker.failHistoryReads = true;
    broker.restore();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(outlet.closed).toBeUndefined();
    expect(hub.ready).toBe(false);
    broker.failHistoryReads = false;
    await waitUntil('recovery once history is readable', () => hub.ready && outlet.ids().length === 1);
    expect(outlet.ids()).toEqual([published]);
    expect(outlet.closed).toBeUndefined();
  });

  it('asks sockets to resync when history stays unreadable after an outage, and stays unready until it is readable', async () => {
    const { outlet } = await member('ida');
    broker.cut();
    broker.failHistoryReads = true;
    broker.restore();
    await waitUntil('the sockets to be asked to resync', () => outlet.closed !== undefined);
    expect(outlet.closed).toEqual({ code: 4000, reason: expect.stringContaining('reconnect and resume') });
    expect(hub.ready).toBe(false);
    broker.failHistoryReads = false;
    await waitUntil('recovery once history is readable', () => hub.ready);
  });

  it('answers receipt requests with the sends it made', async () => {
    const [a] = [await member('jo'), await member('jo')];
    const refusing = await member('jo');
    refusing.outlet.refuse = true;
    const result = await publish('jo', 0, { confirm: true, confirm_timeout_ms: 2000 });
    expect(result).toMatchObject({ nodes_reached: 1, connections_attempted: 3, successful_sends: 2, errors: [] });
    expect(a.outlet.ids()).toEqual([result.event_id]);
  });

  it('counts a socket still resuming as reached, and gives it the event once it is live', async () => {
    const first = (await publish('kai', 0)).event_id;
    const { member: resuming, outlet } = await member('kai');
    broker.historyDelayMs = 50;
    const resumed = hub.resume(resuming, first);
    const result = await publish('kai', 1, { confirm: true });
    expect(resuming.resuming).toBe(true);
    expect(result).toMatchObject({ connections_attempted: 1, successful_sends: 1 });
    await resumed;
    expect(outlet.ids()).toEqual([result.event_id]);
  });

  it('holds events that overtake the position read and delivers every one after the welcome, none twice', async () => {
    const ids = [(await publish('sam', 0)).event_id];
    broker.openAnswerDelayMs = 30;
    const joined = hub.join('sam');
    // Published after the position was read, their live copies arrive before its answer.
    await new Promise((resolve) => setTimeout(resolve, 5));
    for (let n = 1; n < 4; n++) ids.push((await publish('sam', n)).event_id);
    await joined;
    const outlet = new RecordingOutlet();
    const { since } = hub.attach('sam', outlet);
    for (let n = 4; n < 6; n++) ids.push((await publish('sam', n)).event_id);
    const expected = after(since, ids);
    await waitUntil('every event after the welcome', () => outlet.ids().length >= expected.length);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(outlet.ids()).toEqual(expected);
    expect(await counter('herald_sequence_holes_total')).toBe(0);
  });

  it('fills a hole in the live events from history before delivering past it', async () => {
    const { outlet } = await member('tia');
    const ids: string[] = [];
    let lost = 0;
    broker.loseLive = () => ++lost === 3 || lost === 4;
    for (let n = 0; n < 8; n++) ids.push((await publish('tia', n)).event_id);
    await waitUntil('every event', () => outlet.ids().length === 8);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(outlet.ids()).toEqual(ids);
    expect(outlet.controls()).toEqual([]);
    expect(await counter('herald_sequence_holes_total')).toBe(1);
    expect(await counter('herald_backfilled_events_total')).toBeGreaterThanOrEqual(2);
  });

  it('announces a gap found while filling a hole only to the sockets that miss something', async () => {
    await setup({ retention: { ...DEFAULT_RETENTION, maxEvents: 3 } });
    const behind = await member('ivy');
    const ids: string[] = [];
    for (let n = 0; n < 2; n++) ids.push((await publish('ivy', n)).event_id);
    await waitUntil('two events', () => behind.outlet.ids().length === 2);
    // The node loses events 3-8 live; history keeps only the last three (7-9 once 9 is out).
    broker.loseLive = () => true;
    for (let n = 2; n < 8; n++) ids.push((await publish('ivy', n)).event_id);
    // A socket that resumes to the newest event is ahead of the node: it misses nothing.
    const ahead = await member('ivy');
    await hub.resume(ahead.member, ids[6] as string);
    broker.loseLive = () => false;
    ids.push((await publish('ivy', 8)).event_id); // the hole shows
    await waitUntil('the last event', () => behind.outlet.ids().at(-1) === ids[8] && ahead.outlet.ids().at(-1) === ids[8]);
    expect(behind.outlet.controls()).toEqual([{ type: 'herald.gap', since: ids[1], oldest: ids[6] }]);
    expect(behind.outlet.ids()).toEqual([...ids.slice(0, 2), ...ids.slice(6)]);
    expect(ahead.outlet.frames.filter((frame) => frame.type === 'herald.gap')).toEqual([]);
    expect(ahead.outlet.ids()).toEqual(ids.slice(7));
  });

  it('gives a socket whose resume is refused the gap announced while it was resuming', async () => {
    await setup({ retention: { ...DEFAULT_RETENTION, maxEvents: 3 } });
    const ids: string[] = [(await publish('joy', 0)).event_id];
    const { member: refused, outlet } = await member('joy');
    broker.loseLive = () => true;
    for (let n = 1; n < 8; n++) ids.push((await publish('joy', n)).event_id);
    broker.loseLive = () => false;
    broker.historyDelayMs = 30;
    ids.push((await publish('joy', 8)).event_id); // the hole shows: the node reads history
    await new Promise((resolve) => setImmediate(resolve));
    // The resume reads after the catch-up: the catch-up's gap comes while the socket resumes.
    await hub.resume(refused, `${Date.now() + 2 * MAX_EPOCH_LEAD_MS}-1`);
    await waitUntil('the last event', () => outlet.ids().at(-1) === ids[8]);
    expect(outlet.controls()).toEqual([
      expect.objectContaining({ type: 'herald.error', code: 'invalid_since' }),
      { type: 'herald.gap', since: ids[0], oldest: ids[6] },
    ]);
    expect(outlet.ids()).toEqual(ids.slice(6));
  });

  it('reads history again when more arrives during a catch-up than it can hold', async () => {
    await setup({}, 2);
    const { outlet } = await member('uma');
    const ids: string[] = [];
    let lost = 0;
    broker.loseLive = () => ++lost === 2;
    broker.historyDelayMs = 30;
    for (let n = 0; n < 12; n++) ids.push((await publish('uma', n)).event_id);
    await waitUntil('every event', () => outlet.ids().length === 12);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(outlet.ids()).toEqual(ids);
  });

  it("reads history before the first event of a new history: pub/sub may have lost the old one's end", async () => {
    const { outlet } = await member('vic');
    const before = (await publish('vic', 0)).event_id;
    await waitUntil('the first event', () => outlet.ids().length === 1);
    bus.forget(); // the history and its position were lost while the node stayed subscribed
    const next = (await publish('vic', 1)).event_id;
    await waitUntil('the next event', () => outlet.ids().length === 2);
    expect(next.endsWith('-1')).toBe(true);
    expect(outlet.ids()).toEqual([before, next]);
    expect(outlet.controls()).toEqual([{ type: 'herald.gap', since: before, oldest: next }]);
    expect(await counter('herald_sequence_holes_total')).toBe(1);
  });

  it('unsubscribes from the broker when the last lease goes', async () => {
    const lease = await hub.join('lou');
    expect(hub.subscribedUsers).toBe(1);
    lease.release();
    await waitUntil('unsubscribed', () => hub.subscribedUsers === 0);
  });
});
