import type { Cluster, Redis } from 'ioredis';
import { ReceiptInbox } from './receipt-inbox.js';
import { parseReceipt, type RedisShards } from './storage/index.js';

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
    // Resubscribes by itself after a reconnect (in a cluster, also when the channel's slot moves);
    // a receipt lost meanwhile shows as receipt_timeout.
    const { shared, sharded } = this.shards;
    const subscriber = sharded
      ? (shared as Cluster).duplicate(undefined, { lazyConnect: true, shardedSubscribers: true })
      : (shared as Redis).duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 0 });
    this.subscriber = subscriber;
    const deliver = (_channel: string, message: string) => {
      const receipt = parseReceipt(message);
      if (receipt) this.inbox.deliver(receipt);
    };
    subscriber.on(sharded ? 'smessage' : 'message', deliver);
    subscriber.on('error', () => {
      // Reported through the failing start, or as receipt_timeout later.
    });
    try {
      await subscriber.connect();
      await (sharded ? subscriber.ssubscribe(this.channel) : subscriber.subscribe(this.channel));
    } catch (error) {
      subscriber.disconnect();
      if (this.subscriber === subscriber) this.subscriber = undefined;
      throw error;
    }
  }
}
