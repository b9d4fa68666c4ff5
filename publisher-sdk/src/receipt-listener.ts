import type { Cluster, Redis } from 'ioredis';
import { ReceiptInbox } from './receipt-inbox.js';
import { parseReceipt, type RedisShards } from './storage/index.js';

/** Takes over the errors of a connection the publisher made (see ConnectionErrors.watch). */
export type WatchConnection = <T extends Redis | Cluster>(client: T) => T;

/**
 * Listens for gateway receipts on this publisher's own channel, from the first confirmed publish
 * on. A start that fails is forgotten, so the next confirmed publish tries again.
 */
export class ReceiptListener {
  readonly inbox = new ReceiptInbox();
  private subscriber: Redis | Cluster | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly shards: RedisShards,
    readonly channel: string,
    private readonly watch: WatchConnection,
  ) {}

  start(): Promise<void> {
    this.starting ??= this.subscribe().catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  close(): void {
    this.closed = true;
    this.subscriber?.disconnect();
  }

  private async subscribe(): Promise<void> {
    if (this.closed) throw new Error('publisher is closed');
    this.subscriber?.disconnect();
    // A receipt lost while the subscription is being made again shows as receipt_timeout.
    const { shared, sharded } = this.shards;
    const subscriber = this.watch(
      sharded
        ? // In a cluster, ioredis subscribes again by itself (also when the channel's slot moves).
          (shared as Cluster).duplicate(undefined, { lazyConnect: true, shardedSubscribers: true })
        : (shared as Redis).duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 0, autoResubscribe: false }),
    );
    this.subscriber = subscriber;
    const deliver = (_channel: string, message: string) => {
      const receipt = parseReceipt(message);
      if (receipt) this.inbox.deliver(receipt);
    };
    subscriber.on(sharded ? 'smessage' : 'message', deliver);
    try {
      await subscriber.connect();
      await (sharded ? subscriber.ssubscribe(this.channel) : subscriber.subscribe(this.channel));
    } catch (error) {
      subscriber.disconnect();
      if (this.subscriber === subscriber) this.subscriber = undefined;
      throw error;
    }
    if (!sharded) subscriber.on('ready', () => this.subscribeAgain(subscriber as Redis));
  }

  /**
   * Subscribes on a connection made again. ioredis's own resubscription would leave a SUBSCRIBE
   * that fails (the connection drops again before the answer) as a rejection nobody handles,
   * which ends the host process.
   */
  private subscribeAgain(subscriber: Redis): void {
    subscriber.subscribe(this.channel).catch(() => {
      // Not subscribed on this connection: make it again, and subscribe at its next 'ready'.
      if (!this.closed && this.subscriber === subscriber) subscriber.disconnect(true);
    });
  }
}
