import type { Broker } from '../broker/broker.js';
import { SubscriptionTracker, type Lease, type UpstreamFailure } from './subscription-tracker.js';

/** Sends one user's event to that user's sockets on this node. */
export interface Fanout {
  deliver(userId: string, payload: Buffer): void;
}

/**
 * The one broadcast path inside a node: broker message for user U → U's sockets here. It also
 * holds U's upstream subscription for as long as any of U's sockets does.
 */
export class Hub {
  private readonly subscriptions: SubscriptionTracker;

  constructor(broker: Broker, fanout: Fanout, onUpstreamFailure?: UpstreamFailure) {
    this.subscriptions = new SubscriptionTracker(broker, onUpstreamFailure);
    broker.onMessage((userId, payload) => fanout.deliver(userId, payload));
  }

  /** Resolves once U's events reach this node; hold the lease for as long as the socket is open. */
  join(userId: string): Promise<Lease> {
    return this.subscriptions.acquire(userId);
  }

  /** Users this node is subscribed to. */
  get subscribedUsers(): number {
    return this.subscriptions.activeUsers;
  }
}
