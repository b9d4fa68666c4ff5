/**
 * Publish events to a user's open Herald sockets, on whichever gateway node holds them: `createPublisher`.
 *
 * @packageDocumentation
 * @module @herald/publisher-sdk
 */
export {
  createPublisher,
  type Publisher,
  type PublisherOptions,
  type PublishOptions,
  type RetryOptions,
} from './publisher.js';
export {
  HeraldConnectionError,
  HeraldPublishError,
  HeraldPublishOutcomeUnknownError,
  HeraldValidationError,
  type PublishErrorCode,
  type ValidationCode,
} from './errors.js';
export { ReceiptInbox, type PendingReceipts, type ReceiptSummary } from './receipt-inbox.js';
export { PublisherMetrics } from './metrics.js';
export {
  GOLDEN_PATH_EVENT_TYPES,
  type GoldenPathEventType,
  type BroadcastResult,
  type BroadcastError,
  type EventEnvelope,
} from '@herald/protocol';
