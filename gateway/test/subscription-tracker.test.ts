import { SubscriptionTracker, type Lease, type Upstream } from '../src/hub/subscription-tracker.js';

interface PendingCall {
  readonly operation: 'subscribe' | 'unsubscribe';
  readonly userId: string;
  resolve(): void;
  reject(error: Error): void;
}

/** An upstream whose calls complete only when the test says so. */
class ManualUpstream implements Upstream {
  readonly calls: PendingCall[] = [];
  readonly log: string[] = [];

  subscribe(userId: string): Promise<void> {
    return this.record('subscribe', userId);
  }

  unsubscribe(userId: string): Promise<void> {
    return this.record('unsubscribe', userId);
  }

  /** Completes the oldest pending call. */
  async complete(outcome: 'ok' | Error = 'ok'): Promise<void> {
    const call = this.calls.shift();
    if (!call) throw new Error('no pending upstream call');
    if (outcome === 'ok') call.resolve();
    else call.reject(outcome);
    await flush();
  }

  private record(operation: 'subscribe' | 'unsubscribe', userId: string): Promise<void> {
    this.log.push(`${operation} ${userId}`);
    return new Promise((resolve, reject) => this.calls.push({ operation, userId, resolve, reject }));
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function settled<T>(promise: Promise<T>): { value?: T; error?: unknown; done: boolean } {
  const state: { value?: T; error?: unknown; done: boolean } = { done: false };
  promise.then(
    (value) => Object.assign(state, { value, done: true }),
    (error: unknown) => Object.assign(state, { error, done: true }),
  );
  return state;
}

describe('subscription tracker', () => {
  it('subscribes once for concurrent first sockets and resolves them all when confirmed', async () => {
    const upstream = new ManualUpstream();
    const tracker = new SubscriptionTracker(upstream);
    const a = settled(tracker.acquire('u'));
    const b = settled(tracker.acquire('u'));
    await flush();
    expect(upstream.log).toEqual(['subscribe u']);
    expect(a.done || b.done).toBe(false);
    await upstream.complete();
    expect(a.done && b.done).toBe(true);
    expect(tracker.activeUsers).toBe(1);
  });

  it('resolves at once when the user is already subscribed', async () => {
    const upstream = new ManualUpstream();
    const tracker = new SubscriptionTracker(upstream);
    const first = settled(tracker.acquire('u'));
    await upstream.complete();
    const second = settled(tracker.acquire('u'));
    await flush();
    expect(first.done && second.done).toBe(true);
    expect(upstream.log).toEqual(['subscribe u']);
  });

  it('unsubscribes when the last lease is released, not before', async () => {
    const upstream = new ManualUpstream();
    const tracker = new SubscriptionTracker(upstream);
    const leases = [tracker.acquire('u'), tracker.acquire('u')];
    await upstream.complete();
    const [a, b] = (await Promise.all(leases)) as [Lease, Lease];
    a.release();
    await flush();
    expect(upstream.log).toEqual(['subscribe u']);
    b.release();
    await flush();
    expect(upstream.log).toEqual(['subscribe u', 'unsubscribe u']);
    await upstream.complete();
    expect(tracker.trackedUsers).toBe(0);
  });

  it('ignores a lease released twice', async () => {
    const upstream = new ManualUpstream();
    const tracker = new SubscriptionTracker(upstream);
    const pending = [tracker.acquire('u'), tracker.acquire('u')];
    await upstream.complete();
    const [a] = (await Promise.all(pending)) as [Lease, Lease];
    a.release();
    a.release();
    await flush();
    expect(tracker.leasesHeld('u')).toBe(1);
    expect(upstream.log).toEqual(['subscribe u']);
  });

  it('resubscribes a socket that arrives while the unsubscribe is in flight', async () => {
    const upstream = new ManualUpstream();
    const tracker = new SubscriptionTracker(upstream);
    const first = tracker.acquire('u');
    await upstream.complete();
    (await first).release();
    await flush();
    const late = settled(tracker.acquire('u'));
    await flush();
    expect(upstream.log).toEqual(['subscribe u', 'unsubscribe u']);
    expect(late.done).toBe(false);
    await upstream.complete(); // unsubscribe done
    expect(upstream.log).toEqual(['subscribe u', 'unsubscribe u', 'subscribe u']);
    expect(late.done).toBe(false);
    await upstream.complete(); // subscribe done
    expect(late.done).toBe(true);
    expect(tracker.activeUsers).toBe(1);
  });

  it('unsubscribes after confirmation when the only socket left while subscribing', async () => {
    const upstream = new ManualUpstream();
    const tracker = new SubscriptionTracker(upstream);
    const pending = tracker.acquire('u');
    await flush();
    // The socket went away during the subscribe: its holder releases as soon as it gets the lease.
    void pending.then((lease) => lease.release());
    await upstream.complete();
    expect(upstream.log).toEqual(['subscribe u', 'unsubscribe u']);
    await upstream.complete();
    expect(tracker.trackedUsers).toBe(0);
  });

  it('rejects every waiter when subscribing fails, keeps no lease, and retries on the next socket', async () => {
    const upstream = new ManualUpstream();
    const failures: string[] = [];
    const tracker = new SubscriptionTracker(upstream, (operation, userId) => failures.push(`${operation} ${userId}`));
    const a = settled(tracker.acquire('u'));
    const b = settled(tracker.acquire('u'));
    await upstream.complete(new Error('redis down'));
    expect(a.error).toEqual(new Error('redis down'));
    expect(b.error).toEqual(new Error('redis down'));
    expect(failures).toEqual(['subscribe u']);
    expect(tracker.trackedUsers).toBe(0);
    expect(upstream.calls).toHaveLength(0);

    const c = settled(tracker.acquire('u'));
    await upstream.complete();
    expect(c.done && c.error === undefined).toBe(true);
    expect(upstream.log).toEqual(['subscribe u', 'subscribe u']);
  });

  it('reports a failed unsubscribe and still returns to idle', async () => {
    const upstream = new ManualUpstream();
    const failures: string[] = [];
    const tracker = new SubscriptionTracker(upstream, (operation) => failures.push(operation));
    const lease = tracker.acquire('u');
    await upstream.complete();
    (await lease).release();
    await upstream.complete(new Error('connection lost'));
    expect(failures).toEqual(['unsubscribe']);
    expect(tracker.trackedUsers).toBe(0);
  });

  it('keeps users independent', async () => {
    const upstream = new ManualUpstream();
    const tracker = new SubscriptionTracker(upstream);
    const a = tracker.acquire('a');
    const b = tracker.acquire('b');
    await upstream.complete();
    await upstream.complete();
    (await a).release();
    await flush();
    expect(upstream.log).toEqual(['subscribe a', 'subscribe b', 'unsubscribe a']);
    expect(tracker.leasesHeld('b')).toBe(1);
    await (await b).release();
  });

  it.each([42, 7, 2024])('never overlaps upstream calls for a user and ends unsubscribed, over thousands of random interleavings (seed %d)', async (initialSeed) => {
    // Model of the upstream: what it is subscribed to, and how many calls per user are in flight.
    const subscribed = new Set<string>();
    const inFlight = new Map<string, number>();
    const violations: string[] = [];
    let seed = initialSeed;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const later = () => new Promise<void>((resolve) => setTimeout(resolve, Math.floor(random() * 3)));
    const call = async (userId: string, subscribe: boolean) => {
      const running = (inFlight.get(userId) ?? 0) + 1;
      inFlight.set(userId, running);
      if (running > 1) violations.push(`overlapping calls for ${userId}`);
      await later();
      if (random() < 0.05) {
        // Like a dropped Redis connection: whatever the call, the channel is not subscribed after it.
        subscribed.delete(userId);
        inFlight.set(userId, running - 1);
        throw new Error('transient failure');
      }
      if (subscribe) subscribed.add(userId);
      else subscribed.delete(userId);
      inFlight.set(userId, (inFlight.get(userId) ?? 1) - 1);
    };
    const tracker = new SubscriptionTracker({
      subscribe: (userId) => call(userId, true),
      unsubscribe: (userId) => call(userId, false),
    });

    const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
    const sessions: Promise<void>[] = [];
    for (let i = 0; i < 3000; i++) {
      const userId = users[Math.floor(random() * users.length)] as string;
      sessions.push(
        (async () => {
          await later();
          let lease: Lease;
          try {
            lease = await tracker.acquire(userId);
          } catch {
            return; // refused, as a socket would be
          }
          if (!subscribed.has(userId)) violations.push(`lease for ${userId} granted while not subscribed`);
          await later();
          lease.release();
        })(),
      );
    }
    await Promise.all(sessions);
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(violations).toEqual([]);
    expect([...subscribed]).toEqual([]);
    expect(tracker.trackedUsers).toBe(0);
  });
});
