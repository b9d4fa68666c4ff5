export {
  createPublisher,
  type Publisher,
  type PublisherOptions,
  type PublishOptions,
  type HistoryOptions,
} from './publisher.js';
export { HeraldPublishError, HeraldValidationError, type PublishErrorCode, type ValidationCode } from './errors.js';
export { PUBLISH_SCRIPT } from './publish-script.js';
export {
  GOLDEN_PATH_EVENT_TYPES,
  type GoldenPathEventType,
  type BroadcastResult,
  type BroadcastError,
  type EventEnvelope,
} from '@herald/protocol';
