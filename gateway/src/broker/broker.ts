import type { BroadcastResult, PublishRequest } from '@herald/protocol';

/** Receives each event published for a subscribed user, as the exact bytes that were published. */
export type BrokerMessageHandler = (userId: string, payload: Buffer) => void;

export interface BrokerHealth {
  /** True when subscriptions and publishes work; the node is not ready without it. */
  readonly connected: boolean;
  readonly detail: string;
}

/**
 * How events travel between publishers and gateway nodes. The node never knows which
 * implementation runs; every implementation passes the same contract suite.
 */
export interface Broker {
  readonly kind: 'memory' | 'redis';
  /** Connects. Resolves once connected, or rejects; a broker that lost its connection keeps retrying. */
  start(): Promise<void>;
  /** Delivers the user's events to the message handler from when this resolves until unsubscribe. */
  subscribe(userId: string): Promise<void>;
  unsubscribe(userId: string): Promise<void>;
  /** Appends the event to the user's history and delivers it to every node subscribed to the user. */
  publish(request: PublishRequest): Promise<BroadcastResult>;
  /** Sets the single handler for incoming events. */
  onMessage(handler: BrokerMessageHandler): void;
  health(): BrokerHealth;
  close(): Promise<void>;
}

/** Thrown when the broker cannot do what was asked because it is not connected. */
export class BrokerUnavailableError extends Error {
  override readonly name = 'BrokerUnavailableError';
}
