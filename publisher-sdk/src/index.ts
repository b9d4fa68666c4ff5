export {
  createPublisher,
  type Publisher,
  type PublisherOptions,
  type PublishOptions,
  type HistoryOptions,
} from './publisher.js';
export { HeraldPublishError, HeraldValidationError, type PublishErrorCode, type ValidationCode } from './errors.js';
export { PUBLISH_SCRIPT } from './publish-script.js';
export { RedisScript } from './redis-script.js';
export { ReceiptInbox, type PendingReceipts, type ReceiptSummary } from './receipt-inbox.js';
export { isTransientRedisError, type RetryOptions } from './retry.js';
export { PublisherMetrics } from './metrics.js';
export {
  GOLDEN_PATH_EVENT_TYPES,
  type GoldenPathEventType,
  type BroadcastResult,
  type BroadcastError,
  type EventEnvelope,
} from '@herald/protocol';
