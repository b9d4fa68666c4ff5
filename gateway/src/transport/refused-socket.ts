import type { WebSocket } from 'uWebSockets.js';
import { CloseCodes } from '@herald/protocol';
import type { AuthError } from '../auth/verifier.js';

/** How a socket whose token was refused is closed. The reason is the failure's name: never token content. */
export interface AuthClose {
  readonly code: number;
  readonly reason: string;
}

/**
 * The close that tells a client why its token was refused, or undefined when the fault is the
 * node's (the signing keys could not be fetched): that one stays an HTTP 503, retried like any
 * other unreachable node.
 */
export function authCloseOf(error: AuthError): AuthClose | undefined {
  if (error.reason === 'key_unavailable') return undefined;
  const code = error.reason === 'expired' ? CloseCodes.TOKEN_EXPIRED.code : CloseCodes.UNAUTHORIZED.code;
  return { code, reason: error.reason };
}

/** The part of a uWS socket a refusal uses. */
type Closable = Pick<WebSocket<unknown>, 'end'>;

/**
 * A socket accepted only to be closed with its AuthClose (decision 0026): a browser cannot read
 * an upgrade's HTTP status, but it can read a close code. It never joins the hub nor the node's
 * socket registry, and is never sent a frame.
 */
export class RefusedSocket {
  private upgrading = true;
  private ws: Closable | undefined = undefined;

  constructor(readonly close: AuthClose) {}

  /**
   * For the open handler. Inside `res.cork(() => res.upgrade())` the socket must not be written
   * to (see welcome() in websocket.ts): the close then waits for upgraded().
   */
  opened(ws: Closable): void {
    if (this.upgrading) this.ws = ws;
    else ws.end(this.close.code, this.close.reason);
  }

  /** Call once `res.upgrade()` has returned, outside the cork. */
  upgraded(): void {
    this.upgrading = false;
    const ws = this.ws;
    this.ws = undefined;
    ws?.end(this.close.code, this.close.reason);
  }

  /** For the close handler: the socket must not be touched any more. */
  closed(): void {
    this.ws = undefined;
  }
}

export interface RefusedData {
  readonly refused: RefusedSocket;
}
