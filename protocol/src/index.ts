/**
 * Herald's wire contract, shared by the gateway and both SDKs: event ids, the event envelope, control frames, close codes and the HTTP publish request.
 *
 * @packageDocumentation
 * @module @herald/protocol
 */
export { PROTOCOL_VERSION } from './version.js';
export { HeraldValidationError, type ValidationCode } from './errors.js';
export { utf8ByteLength } from './utf8.js';
export {
  MAX_USER_ID_BYTES,
  MAX_RUN_ID_BYTES,
  MAX_IDEMPOTENCY_KEY_BYTES,
  validateUserId,
  validateRunId,
  validateIdempotencyKey,
  isValidUserId,
  isWellFormedText,
} from './identifiers.js';
export {
  GOLDEN_PATH_EVENT_TYPES,
  MAX_EVENT_TYPE_LENGTH,
  isGoldenPathEventType,
  validateEventType,
  type GoldenPathEventType,
} from './event-types.js';
export {
  parseEventId,
  parseEventIdBytes,
  isEventId,
  compareEventIds,
  compareEventIdParts,
  formatEventId,
  type EventIdParts,
} from './event-id.js';
export {
  DEFAULT_MAX_EVENT_BYTES,
  EVENT_PAYLOAD_ID_PREFIX,
  encodeEventBody,
  joinEventPayload,
  eventIdOfPayload,
  eventIdPartsOfPayload,
  eventTimestampOfPayload,
  type EventEnvelope,
  type EventFields,
} from './envelope.js';
export {
  MAX_CONFIRM_TIMEOUT_MS,
  DEFAULT_CONFIRM_TIMEOUT_MS,
  validateConfirmTimeout,
  validatePublishRequest,
  parsePublishRequest,
  type PublishRequest,
  type BroadcastResult,
  type BroadcastError,
} from './publish.js';
export {
  CONTROL_FRAME_PREFIX,
  MAX_CLIENT_FRAME_TYPE_LENGTH,
  welcomeFrame,
  gapFrame,
  resumedFrame,
  errorFrame,
  encodeControlFrame,
  isControlFrame,
  parseClientFrame,
  parseServerFrame,
  type WelcomeFrame,
  type PongFrame,
  type GapFrame,
  type ResumedFrame,
  type ResumeFrame,
  type ErrorFrame,
  type ControlErrorCode,
  type ServerControlFrame,
  type ServerFrame,
  type PingFrame,
  type ClientFrame,
  type ClientFrameParse,
} from './frames.js';
export {
  CloseCodes,
  HERALD_CLOSE_CODE_RANGE,
  HERALD_NEW_TOKEN_RANGE,
  HERALD_RECONNECT_RANGE,
  describeCloseCode,
  needsNewToken,
  shouldReconnect,
  type CloseCode,
  type CloseCodeName,
} from './close-codes.js';
