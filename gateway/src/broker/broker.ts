import type { BroadcastResult, PublishRequest } from '@herald/protocol';
import type { HistoryRestart, PageBounds, Receipt, StoredExtent } from '@herald/publisher-sdk/storage';

/**
 * Receives each message published on a subscribed user's channel, as the exact bytes that were
 * published: an event payload, or a receipt request that follows an event.
 */
export type BrokerMessageHandler = (userId: string, payload: Buffer) => void;

/** false: subscriptions were lost (messages may be missed from now on); true: restored. */
export type ConnectionHandler = (connected: boolean) => void;

/**
 * Users whose subscriptions were made again: on another Redis server after their cluster slot
 * moved, or on the same one after the connection to it dropped. Messages between may be missing.
 */
export type RenewedHandler = (userIds: readonly string[]) => void;

export interface BrokerHealth {
  /** True when subscriptions and publishes work; the node is not ready without it. */
  readonly connected: boolean;
  /** The state of each connection, for operators. */
  readonly detail: string;
  /**
   * One sentence naming the broker, where it is (never a secret) and what is wrong with it, for
   * answers such as a 503: "Redis at 127.0.0.1:6379 (REDIS_URL) is unreachable".
   */
  readonly summary: string;
}

/** Where a user's history stands: when it began, how many events it numbered, the oldest it holds. */
export type HistoryExtent = StoredExtent;
export type { HistoryRestart };

export interface HistoryEvent {
  readonly id: string;
  /** The payload exactly as it was published. */
  readonly payload: Buffer;
}

/** What a user's history holds after some event id. */
export interface HistoryPage {
  /** The user's position; undefined when there is none (expired, or lost with Redis). */
  readonly history: HistoryExtent | undefined;
  /** Events after the requested id, oldest first, within the requested count and bytes. */
  readonly events: readonly HistoryEvent[];
  /** Present when the events stopped at the byte limit: more may follow. */
  readonly truncated?: true;
}

/** One user's history read: the events after `after`. */
export interface HistoryRequest {
  readonly userId: string;
  readonly after: string;
}

/** How much one history read may return: at most `events` events, and no more than `bytes` of them (but at least one). */
export type PageLimit = PageBounds;

/** How a node hears about a user's events. */
export interface UserSubscriptions {
  /** Delivers the user's messages to the message handler from when this resolves until unsubscribe. */
  subscribe(userId: string): Promise<void>;
  unsubscribe(userId: string): Promise<void>;
  /** Sets the single handler for incoming messages. */
  onMessage(handler: BrokerMessageHandler): void;
  /** Sets the single handler told when subscriptions are lost and when they are restored. */
  onConnectionChange(handler: ConnectionHandler): void;
  /**
   * Sets the single handler told of users whose subscriptions were made again (after their slot
   * moved, or their server's connection dropped), once they are in place.
   */
  onSubscriptionsRenewed(handler: RenewedHandler): void;
}

/** A user's stored history. */
export interface HistoryReader {
  /**
   * Ensures the user has a position (starting a history if needed), keeps it for another
   * position ttl, and returns it: the id of the newest event, or `<epoch>-0` when there is none.
   */
  openHistory(userId: string): Promise<string>;
  /** The user's history after `after` (exclusive), within `limit`. */
  readHistory(userId: string, after: string, limit: PageLimit): Promise<HistoryPage>;
  /**
   * The first page of several users' histories, in one round trip where the broker can: as
   * `readHistory` for each, or undefined for a read that failed alone (read it again by itself).
   */
  readHistories(reads: readonly HistoryRequest[], limit: PageLimit): Promise<readonly (HistoryPage | undefined)[]>;
  /**
   * When `id` lies beyond anything the user's history has numbered (or there is no history),
   * starts a new one whose ids all come after `id`, so that ids a client already holds are never
   * handed out again for other events. Nothing changes for an id the history covers, or one whose
   * epoch lies implausibly far ahead.
   */
  restartHistoryAfter(userId: string, id: string): Promise<HistoryRestart>;
  /** Keeps the positions of these users (those that still have one) for another position ttl. */
  keepPositions(userIds: readonly string[]): Promise<void>;
}

export interface ReceiptSender {
  /** Answers a receipt request. */
  sendReceipt(channel: string, receipt: Receipt): Promise<void>;
}

export interface EventPublisher {
  /** Appends the event to the user's history and delivers it to every node subscribed to the user. */
  publish(request: PublishRequest): Promise<BroadcastResult>;
}

/**
 * How events travel between publishers and gateway nodes. The node never knows which
 * implementation runs; every implementation passes the same contract suite.
 */
export interface Broker extends UserSubscriptions, HistoryReader, ReceiptSender, EventPublisher {
  readonly kind: 'memory' | 'redis' | 'redis-cluster';
  /** Connects. Resolves once connected, or rejects; a broker that lost its connection keeps retrying. */
  start(): Promise<void>;
  health(): BrokerHealth;
  close(): Promise<void>;
}

/** Thrown when the broker cannot do what was asked because it is not connected. */
export class BrokerUnavailableError extends Error {
  override readonly name = 'BrokerUnavailableError';
}

/** Thrown by `start` when the broker can never work as configured (retrying would not help). */
export class BrokerMisconfiguredError extends Error {
  override readonly name = 'BrokerMisconfiguredError';
}
