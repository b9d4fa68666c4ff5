/** The upstream side of a subscription: in the gateway, the broker. */
export interface Upstream {
  subscribe(userId: string): Promise<void>;
  unsubscribe(userId: string): Promise<void>;
}

/** One holder's claim on a user's subscription. Release exactly when the holder goes away; repeats are ignored. */
export interface Lease {
  readonly userId: string;
  release(): void;
}

/**
 * A user's upstream subscription moves through
 *   idle → subscribing → active → unsubscribing → idle
 * with at most one upstream call in flight. After each call completes, the wanted state
 * (any leases held?) is compared with the actual one and the next call, if any, is made.
 * That one rule covers every interleaving of acquires and releases.
 */
type Phase = 'idle' | 'subscribing' | 'active' | 'unsubscribing';

interface Waiter {
  readonly lease: TrackedLease;
  resolve(lease: Lease): void;
  reject(error: unknown): void;
}

interface Entry {
  refs: number;
  phase: Phase;
  waiters: Waiter[];
}

class TrackedLease implements Lease {
  private released = false;

  constructor(
    readonly userId: string,
    private readonly onRelease: () => void,
  ) {}

  release(): void {
    if (this.forfeit()) this.onRelease();
  }

  /** Marks the lease released without notifying; true if it was held. */
  forfeit(): boolean {
    if (this.released) return false;
    this.released = true;
    return true;
  }
}

export type UpstreamFailure = (operation: 'subscribe' | 'unsubscribe', userId: string, error: unknown) => void;

export class SubscriptionTracker {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly upstream: Upstream,
    private readonly onFailure: UpstreamFailure = () => {},
  ) {}

  /**
   * Resolves with a lease once the user's upstream subscription is active: from then on the
   * user's events reach this node. Rejects if subscribing fails (the lease is then not held).
   */
  acquire(userId: string): Promise<Lease> {
    let entry = this.entries.get(userId);
    if (!entry) {
      entry = { refs: 0, phase: 'idle', waiters: [] };
      this.entries.set(userId, entry);
    }
    const held = entry;
    held.refs += 1;
    const lease = new TrackedLease(userId, () => {
      held.refs -= 1;
      this.advance(userId, held);
    });
    if (held.phase === 'active') return Promise.resolve(lease);
    return new Promise<Lease>((resolve, reject) => {
      held.waiters.push({ lease, resolve, reject });
      this.advance(userId, held);
    });
  }

  /** Users whose upstream subscription is active. */
  get activeUsers(): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.phase === 'active') count += 1;
    return count;
  }

  /** Users with any state at all (held, or an upstream call in flight). */
  get trackedUsers(): number {
    return this.entries.size;
  }

  leasesHeld(userId: string): number {
    return this.entries.get(userId)?.refs ?? 0;
  }

  private advance(userId: string, entry: Entry): void {
    switch (entry.phase) {
      case 'subscribing':
      case 'unsubscribing':
        return; // the call in flight advances again when it completes
      case 'idle':
        if (entry.refs > 0) this.subscribe(userId, entry);
        else if (this.entries.get(userId) === entry) this.entries.delete(userId);
        return;
      case 'active':
        if (entry.refs === 0) this.unsubscribe(userId, entry);
        return;
    }
  }

  private settle(entry: Entry): void {
    const waiters = entry.waiters;
    entry.waiters = [];
    for (const waiter of waiters) waiter.resolve(waiter.lease);
  }

  private subscribe(userId: string, entry: Entry): void {
    entry.phase = 'subscribing';
    void this.call(() => this.upstream.subscribe(userId)).then((error) => {
      if (error === undefined) {
        entry.phase = 'active';
        this.settle(entry);
      } else {
        entry.phase = 'idle';
        this.onFailure('subscribe', userId, error);
        const waiters = entry.waiters;
        entry.waiters = [];
        for (const waiter of waiters) {
          if (waiter.lease.forfeit()) entry.refs -= 1;
          waiter.reject(error);
        }
      }
      this.advance(userId, entry);
    });
  }

  private unsubscribe(userId: string, entry: Entry): void {
    entry.phase = 'unsubscribing';
    void this.call(() => this.upstream.unsubscribe(userId)).then((error) => {
      // A failed unsubscribe leaves nothing to undo: the broker no longer wants the channel.
      if (error !== undefined) this.onFailure('unsubscribe', userId, error);
      entry.phase = 'idle';
      this.advance(userId, entry);
    });
  }

  /** Runs an upstream call; resolves with its error, or undefined on success. Never rejects. */
  private async call(operation: () => Promise<void>): Promise<unknown> {
    try {
      await operation();
      return undefined;
    } catch (error) {
      return error ?? new Error('upstream call failed');
    }
  }
}
