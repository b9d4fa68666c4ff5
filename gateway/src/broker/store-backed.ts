import type { BroadcastResult, PublishRequest } from '@herald/protocol';
import type { Publisher } from '@herald/publisher-sdk';
import type { HistoryRestart, Receipt } from '@herald/publisher-sdk/storage';
import type { HistoryPage, HistoryReader, HistoryRequest, PageLimit, ReceiptSender } from './broker.js';
import type { RedisStore } from './redis-store.js';

/** What the Redis brokers (one server, or a cluster) share: histories and receipts live in a RedisStore. */
export abstract class StoreBackedBroker implements HistoryReader, ReceiptSender {
  protected abstract readonly store: RedisStore;

  openHistory(userId: string): Promise<string> {
    return this.store.openHistory(userId);
  }

  readHistory(userId: string, after: string, limit: PageLimit): Promise<HistoryPage> {
    return this.store.readHistory(userId, after, limit);
  }

  readHistories(reads: readonly HistoryRequest[], limit: PageLimit): Promise<readonly (HistoryPage | undefined)[]> {
    return this.store.readHistories(reads, limit);
  }

  restartHistoryAfter(userId: string, id: string): Promise<HistoryRestart> {
    return this.store.restartHistoryAfter(userId, id);
  }

  keepPositions(userIds: readonly string[]): Promise<void> {
    return this.store.keepPositions(userIds);
  }

  sendReceipt(channel: string, receipt: Receipt): Promise<void> {
    return this.store.sendReceipt(channel, receipt);
  }
}

/** Publishes an HTTP publish request through the SDK. */
export function publishRequest(publisher: Publisher, request: PublishRequest): Promise<BroadcastResult> {
  return publisher.publish(request.user_id, request.type, request.data, {
    ...(request.run_id === undefined ? {} : { runId: request.run_id }),
    ...(request.idempotency_key === undefined ? {} : { idempotencyKey: request.idempotency_key }),
    ...(request.confirm === undefined ? {} : { confirm: request.confirm }),
    ...(request.confirm_timeout_ms === undefined ? {} : { timeoutMs: request.confirm_timeout_ms }),
  });
}
