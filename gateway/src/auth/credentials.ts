/** Subprotocol entries of this form carry the token from browsers, which cannot set headers. */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';

export interface UpgradeCredentials {
  /** The JWT, or '' when the request carries none. */
  readonly token: string;
  /** The Sec-WebSocket-Protocol value to answer with ('' for none). */
  readonly protocol: string;
}

export interface UpgradeHeaders {
  readonly authorization: string;
  readonly secWebSocketProtocol: string;
  /** Decoded `token` query parameter, or ''. */
  readonly queryToken: string;
}

/**
 * Finds the token of an upgrade request: `Authorization: Bearer <jwt>` first, then a
 * `bearer.<jwt>` subprotocol (which is echoed, as browsers require), then `?token=<jwt>`.
 */
export function readUpgradeCredentials(headers: UpgradeHeaders): UpgradeCredentials {
  const offered = headers.secWebSocketProtocol
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  const bearerProtocol = offered.find((entry) => entry.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  const protocol = bearerProtocol ?? '';

  const header = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization);
  if (header?.[1]) return { token: header[1], protocol };
  if (bearerProtocol) return { token: bearerProtocol.slice(BEARER_SUBPROTOCOL_PREFIX.length), protocol };
  return { token: headers.queryToken, protocol };
}
