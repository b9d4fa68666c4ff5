import type { Redis } from 'ioredis';
import { ReceiptInbox } from './receipt-inbox.js';
import { parseReceipt } from './storage/index.js';

/**
 * Listens for gateway receipts on this publisher's own channel, from the first confirmed publish
 * on. A start that fails is forgotten, so the next confirmed publish tries again.
 */
export class ReceiptListener {
  readonly inbox = new ReceiptInbox();
  private subscriber: Redis | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly redis: Redis,
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
    // Resubscribes by itself after a reconnect; a receipt lost meanwhile shows as receipt_timeout.
    const subscriber = this.redis.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 0 });
    this.subscriber = subscriber;
    subscriber.on('message', (_channel: string, message: string) => {
      const receipt = parseReceipt(message);
      if (receipt) this.inbox.deliver(receipt);
    });
    subscriber.on('error', () => {
      // Reported through the failing start, or as receipt_timeout later.
    });
    try {
      await subscriber.connect();
      await subscriber.subscribe(this.channel);
    } catch (error) {
      subscriber.disconnect();
      if (this.subscriber === subscriber) this.subscriber = undefined;
      throw error;
    }
  }
}
