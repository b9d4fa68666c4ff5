import type { EventEnvelope } from './envelope.js';
import { isEventId } from './event-id.js';
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
  /**
   * Every event after this id reaches the socket. A client that has seen no event yet resumes
   * from it after a disconnect, so nothing published in between is lost.
   */
  readonly since: string;
}

/** The answer to a client's `herald.ping`. */
export interface PongFrame {
  readonly type: 'herald.pong';
}

/**
 * Events after `since` may be missing: history no longer holds them (trimmed, expired, or lost
 * with Redis). Sent before whatever history still has; `oldest` is the oldest event still held
 * (null when none). The application should reload its state.
 */
export interface GapFrame {
  readonly type: 'herald.gap';
  readonly since: string;
  readonly oldest: string | null;
}

/** A resume finished: `replayed` events after `since` came from history; live events follow. */
export interface ResumedFrame {
  readonly type: 'herald.resumed';
  readonly since: string;
  readonly replayed: number;
}

/** Why the gateway answered a client frame with `herald.error`. */
export type ControlErrorCode = 'invalid_frame' | 'unknown_type' | 'invalid_since' | 'resume_too_late';

/** The gateway could not act on a client frame; the connection stays open. */
export interface ErrorFrame {
  readonly type: 'herald.error';
  readonly code: ControlErrorCode;
  readonly message: string;
}

/** Every control frame the gateway sends (their types start with `herald.`). */
export type ServerControlFrame = WelcomeFrame | PongFrame | GapFrame | ResumedFrame | ErrorFrame;

/** Anything a client can receive: an event, or a control frame. */
export type ServerFrame = EventEnvelope | ServerControlFrame;

/** Asks the gateway for a `herald.pong`: a client's check that the connection is alive. */
export interface PingFrame {
  readonly type: 'herald.ping';
}

/**
 * Resume after `since` (the last event id the client saw). Only as the first frame, before any
 * event arrived on this socket; `?since=<id>` on the URL is equivalent and never too late.
 */
export interface ResumeFrame {
  readonly type: 'herald.resume';
  readonly since: string;
}

/** Every frame a client may send. */
export type ClientFrame = PingFrame | ResumeFrame;

/** The longest `type` of a client frame the gateway reads. */
export const MAX_CLIENT_FRAME_TYPE_LENGTH = 64;

/** The first frame on every socket. */
export function welcomeFrame(fields: Omit<WelcomeFrame, 'type' | 'protocol'>): WelcomeFrame {
  return {
    type: 'herald.welcome',
    protocol: PROTOCOL_VERSION,
    node: fields.node,
    user_id: fields.user_id,
    connection_id: fields.connection_id,
    since: fields.since,
  };
}

/** Tells a client that events after `since` are no longer in history. */
export function gapFrame(since: string, oldest: string | null): GapFrame {
  return { type: 'herald.gap', since, oldest };
}

/** Tells a client that a resume from `since` is done. */
export function resumedFrame(since: string, replayed: number): ResumedFrame {
  return { type: 'herald.resumed', since, replayed };
}

/** Answers a client frame the gateway could not act on. */
export function errorFrame(code: ControlErrorCode, message: string): ErrorFrame {
  return { type: 'herald.error', code, message };
}

/** The text of a control frame on the wire. */
export function encodeControlFrame(frame: ServerControlFrame): string {
  return JSON.stringify(frame);
}

/** Whether a frame from the gateway is a control frame rather than an event. */
export function isControlFrame(frame: { readonly type: string }): frame is ServerControlFrame {
  return frame.type.startsWith(CONTROL_FRAME_PREFIX);
}

/** What parseClientFrame makes of a client's text frame: a frame, or why it was refused. */
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
  if (type === 'herald.resume') {
    const since = (decoded as { since?: unknown }).since;
    if (!isEventId(since)) {
      return { ok: false, error: errorFrame('invalid_since', 'herald.resume needs "since": an event id like "1700000000000-0"') };
    }
    return { ok: true, frame: { type, since } };
  }
  const shown = type.length > MAX_CLIENT_FRAME_TYPE_LENGTH ? `${type.slice(0, MAX_CLIENT_FRAME_TYPE_LENGTH)}…` : type;
  return {
    ok: false,
    error: errorFrame(
      'unknown_type',
      `unsupported frame type ${JSON.stringify(shown)} (supported: herald.ping, herald.resume)`,
    ),
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
