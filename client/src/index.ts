/**
 * Receive a user's Herald events in a browser or in Node, exactly once and in order across reconnects: `connect`.
 *
 * @packageDocumentation
 * @module @herald/client
 */
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
