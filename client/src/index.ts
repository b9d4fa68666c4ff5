export {
  connect,
  CONNECTION_STATES,
  type HeraldClient,
  type ConnectOptions,
  type ConnectionState,
  type ClientEvents,
  type ClientStats,
  type CloseInfo,
  type WebSocketLike,
  type WebSocketConstructor,
} from './client.js';
export { reconnectDelay, type BackoffOptions } from './backoff.js';
export {
  CloseCodes,
  GOLDEN_PATH_EVENT_TYPES,
  needsNewToken,
  shouldReconnect,
  type EventEnvelope,
  type GapFrame,
  type ResumedFrame,
  type WelcomeFrame,
  type ErrorFrame,
} from '@herald/protocol';
