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

/** One user's state: leases held, where the upstream subscription stands, who waits for it. */
class Entry {
  refs = 0;
  phase: Phase = 'idle';
  /** Acquirers waiting for the subscription; made when the first one waits (most never do). */
  waiters: Waiter[] | undefined;

  constructor(readonly userId: string) {}

  /** Takes the waiters out, leaving none. */
  takeWaiters(): Waiter[] {
    const waiters = this.waiters ?? [];
    this.waiters = undefined;
    return waiters;
  }
}

/** Every socket holds a lease: it points at its entry and its tracker's one release handler rather than closing over them. */
class TrackedLease implements Lease {
  private released = false;

  constructor(
    private readonly entry: Entry,
    private readonly onRelease: (entry: Entry) => void,
  ) {}

  get userId(): string {
    return this.entry.userId;
  }

  release(): void {
    if (this.forfeit()) this.onRelease(this.entry);
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
  private readonly releaseOne = (entry: Entry): void => {
    entry.refs -= 1;
    this.advance(entry);
  };

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
      entry = new Entry(userId);
      this.entries.set(userId, entry);
    }
    const held = entry;
    held.refs += 1;
    const lease = new TrackedLease(held, this.releaseOne);
    if (held.phase === 'active') return Promise.resolve(lease);
    return new Promise<Lease>((resolve, reject) => {
      (held.waiters ??= []).push({ lease, resolve, reject });
      this.advance(held);
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

  private advance(entry: Entry): void {
    const userId = entry.userId;
    switch (entry.phase) {
      case 'subscribing':
      case 'unsubscribing':
        return; // the call in flight advances again when it completes
      case 'idle':
        if (entry.refs > 0) this.subscribe(entry);
        else if (this.entries.get(userId) === entry) this.entries.delete(userId);
        return;
      case 'active':
        if (entry.refs === 0) this.unsubscribe(entry);
        return;
    }
  }

  private settle(entry: Entry): void {
    for (const waiter of entry.takeWaiters()) waiter.resolve(waiter.lease);
  }

  private subscribe(entry: Entry): void {
    const userId = entry.userId;
    entry.phase = 'subscribing';
    void this.call(() => this.upstream.subscribe(userId)).then((error) => {
      if (error === undefined) {
        entry.phase = 'active';
        this.settle(entry);
      } else {
        entry.phase = 'idle';
        this.onFailure('subscribe', userId, error);
        for (const waiter of entry.takeWaiters()) {
          if (waiter.lease.forfeit()) entry.refs -= 1;
          waiter.reject(error);
        }
      }
      this.advance(entry);
    });
  }

  private unsubscribe(entry: Entry): void {
    const userId = entry.userId;
    entry.phase = 'unsubscribing';
    void this.call(() => this.upstream.unsubscribe(userId)).then((error) => {
      // A failed unsubscribe leaves nothing to undo: the broker no longer wants the channel.
      if (error !== undefined) this.onFailure('unsubscribe', userId, error);
      entry.phase = 'idle';
      this.advance(entry);
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
