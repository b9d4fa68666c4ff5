import type { EventEnvelope } from './envelope.js';
import { PROTOCOL_VERSION } from './version.js';

/** Every control frame's `type` starts with this; event types never do. */
export const CONTROL_FRAME_PREFIX = 'herald.';

/** Sent once per connection, when the socket is subscribed and will receive every later event. */
export interface WelcomeFrame {
  readonly type: 'herald.welcome';
  readonly protocol: number;
  readonly node: string;
  readonly user_id: string;
  readonly connection_id: string;
}

export interface PongFrame {
  readonly type: 'herald.pong';
}

/** Why the gateway answered a client frame with `herald.error`. */
export type ControlErrorCode = 'invalid_frame' | 'unknown_type';

export interface ErrorFrame {
  readonly type: 'herald.error';
  readonly code: ControlErrorCode;
  readonly message: string;
}

export type ServerControlFrame = WelcomeFrame | PongFrame | ErrorFrame;

/** Anything a client can receive: an event, or a control frame. */
export type ServerFrame = EventEnvelope | ServerControlFrame;

export interface PingFrame {
  readonly type: 'herald.ping';
}

/** Every frame a client may send. */
export type ClientFrame = PingFrame;

export const MAX_CLIENT_FRAME_TYPE_LENGTH = 64;

export function welcomeFrame(fields: Omit<WelcomeFrame, 'type' | 'protocol'>): WelcomeFrame {
  return {
    type: 'herald.welcome',
    protocol: PROTOCOL_VERSION,
    node: fields.node,
    user_id: fields.user_id,
    connection_id: fields.connection_id,
  };
}

export function errorFrame(code: ControlErrorCode, message: string): ErrorFrame {
  return { type: 'herald.error', code, message };
}

export function encodeControlFrame(frame: ServerControlFrame): string {
  return JSON.stringify(frame);
}

export function isControlFrame(frame: { readonly type: string }): frame is ServerControlFrame {
  return frame.type.startsWith(CONTROL_FRAME_PREFIX);
}

export type ClientFrameParse =
  | { readonly ok: true; readonly frame: ClientFrame }
  | { readonly ok: false; readonly error: ErrorFrame };

/** Decodes a text frame sent by a client. Never throws: a bad frame yields the `herald.error` to answer. */
export function parseClientFrame(text: string): ClientFrameParse {
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch {
    return { ok: false, error: errorFrame('invalid_frame', 'frame is not valid JSON') };
  }
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) {
    return { ok: false, error: errorFrame('invalid_frame', 'frame must be a JSON object') };
  }
  const type = (decoded as { type?: unknown }).type;
  if (typeof type !== 'string') {
    return { ok: false, error: errorFrame('invalid_frame', 'frame must have a string "type"') };
  }
  if (type === 'herald.ping') return { ok: true, frame: { type } };
  const shown = type.length > MAX_CLIENT_FRAME_TYPE_LENGTH ? `${type.slice(0, MAX_CLIENT_FRAME_TYPE_LENGTH)}…` : type;
  return {
    ok: false,
    error: errorFrame('unknown_type', `unsupported frame type ${JSON.stringify(shown)} (supported: herald.ping)`),
  };
}

/** Decodes a frame received from the gateway. Throws on text that is not a Herald frame. */
export function parseServerFrame(text: string): ServerFrame {
  const decoded: unknown = JSON.parse(text);
  if (
    typeof decoded !== 'object' ||
    decoded === null ||
    typeof (decoded as { type?: unknown }).type !== 'string'
  ) {
    throw new Error('not a Herald frame: expected a JSON object with a string "type"');
  }
  return decoded as ServerFrame;
}
