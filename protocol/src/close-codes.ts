/**
 * WebSocket close codes the gateway uses, defined once for the gateway, the client SDK and the
 * docs. Herald's own codes live in 4000-4999:
 *   4000-4499  the client should reconnect (and resume from its last event id);
 *     4400-4499  of which: the token was refused; reconnecting helps only with another token;
 *   4500-4999  the client must not reconnect without a change (user action).
 */
export interface CloseCode {
  readonly code: number;
  readonly name: string;
  /** The client SDK reconnects automatically after this close. */
  readonly reconnect: boolean;
  /** The token was refused: reconnecting helps only with another one (a client that cannot get one stops). */
  readonly newToken: boolean;
  readonly description: string;
}

/** Every close code Herald uses, by name: what it means and what a client should do after it. */
export const CloseCodes = {
  NORMAL: {
    code: 1000,
    name: 'normal',
    reconnect: false,
    newToken: false,
    description: 'The connection finished normally.',
  },
  GOING_AWAY: {
    code: 1001,
    name: 'going_away',
    reconnect: true,
    newToken: false,
    description: 'The node is shutting down or draining; reconnect (to another node) and resume.',
  },
  UNSUPPORTED_DATA: {
    code: 1003,
    name: 'unsupported_data',
    reconnect: false,
    newToken: false,
    description: 'The client sent a binary frame; Herald clients only send JSON text frames.',
  },
  RESYNC: {
    code: 4000,
    name: 'resync',
    reconnect: true,
    newToken: false,
    description: 'The node could not keep this socket\'s stream continuous (for example a broker outage outlasted its buffers); reconnect and resume.',
  },
  TOKEN_EXPIRED: {
    code: 4001,
    name: 'token_expired',
    reconnect: true,
    newToken: true,
    description: 'The token expired (at the upgrade, or while the socket was open); reconnect with a fresh token and resume.',
  },
  SLOW_CONSUMER: {
    code: 4002,
    name: 'slow_consumer',
    reconnect: true,
    newToken: false,
    description: 'The client read too slowly and its send buffer passed MAX_BUFFERED_BYTES; reconnect and resume.',
  },
  RATE_LIMITED: {
    code: 4003,
    name: 'rate_limited',
    reconnect: true,
    newToken: false,
    description: 'The client sent frames faster than MAX_INBOUND_MESSAGES_PER_SECOND; reconnect (with backoff) and resume.',
  },
  UNAUTHORIZED: {
    code: 4401,
    name: 'unauthorized',
    reconnect: true,
    newToken: true,
    description: 'The token is missing or was refused (malformed, bad signature, algorithm, no exp or sub, issuer, audience, not yet valid); reconnect only with another token.',
  },
  CONNECTION_LIMIT: {
    code: 4500,
    name: 'connection_limit',
    reconnect: false,
    newToken: false,
    description: 'The user opened more sockets on this node than MAX_CONNECTIONS_PER_USER; this one, the oldest, was closed.',
  },
  MESSAGE_TOO_BIG: {
    code: 1009,
    name: 'message_too_big',
    reconnect: false,
    newToken: false,
    description: 'The client sent a frame larger than MAX_INBOUND_FRAME_BYTES.',
  },
} as const satisfies Record<string, CloseCode>;

/** The name of a close code in CloseCodes, e.g. `TOKEN_EXPIRED`. */
export type CloseCodeName = keyof typeof CloseCodes;

/** The close codes that are Herald's own. */
export const HERALD_CLOSE_CODE_RANGE = { min: 4000, max: 4999 } as const;
/** Herald's close codes after which a client reconnects (and resumes). */
export const HERALD_RECONNECT_RANGE = { min: 4000, max: 4499 } as const;
/** Codes that refused the client's token: reconnecting helps only with another one. */
export const HERALD_NEW_TOKEN_RANGE = { min: 4400, max: 4499 } as const;

const BY_NUMBER: ReadonlyMap<number, CloseCode> = new Map(
  Object.values(CloseCodes).map((entry: CloseCode) => [entry.code, entry]),
);

/** The table entry for a close code, if Herald defines it. */
export function describeCloseCode(code: number): CloseCode | undefined {
  return BY_NUMBER.get(code);
}

/**
 * Whether a client should reconnect after a close with this code. Codes outside the table follow
 * the ranges above; abnormal closure (1006, no close frame) and unknown codes reconnect.
 */
export function shouldReconnect(code: number): boolean {
  const known = BY_NUMBER.get(code);
  if (known) return known.reconnect;
  if (code >= HERALD_CLOSE_CODE_RANGE.min && code <= HERALD_CLOSE_CODE_RANGE.max) {
    return code <= HERALD_RECONNECT_RANGE.max;
  }
  return true;
}

/**
 * Whether this close refused the client's token, so that reconnecting helps only with another
 * one. Codes outside the table follow the 4400-4499 range.
 */
export function needsNewToken(code: number): boolean {
  const known = BY_NUMBER.get(code);
  if (known) return known.newToken;
  return code >= HERALD_NEW_TOKEN_RANGE.min && code <= HERALD_NEW_TOKEN_RANGE.max;
}
