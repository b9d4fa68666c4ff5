import type { WebSocket } from 'uWebSockets.js';
import { CloseCodes, encodeControlFrame, type ServerControlFrame } from '@herald/protocol';
import type { Member, Outlet, SendOutcome } from '../hub/member.js';
import type { Lease } from '../hub/subscription-tracker.js';
import type { TokenBucket } from './limits.js';

/** Closes a socket from the node's side; every close the node makes goes through here, so closes are counted by who made them. */
export function endSocket(ws: HeraldSocket, code: number, reason: string): void {
  ws.getUserData().session.closedByServer = true;
  ws.end(code, reason);
}

/** Wakes whoever waits for a socket's send buffer to drain (uWS `drain`), or for it to close. */
export class DrainSignal {
  private waiters: (() => void)[] = [];

  /** Resolves at the next drain or close, or after `timeoutMs` (with false). */
  next(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
    });
  }

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The session's drain signal, made on first use: most sockets never wait for a drain. */
function drainsOf(session: Session): DrainSignal {
  return (session.drains ??= new DrainSignal());
}

export interface SessionData {
  readonly session: Session;
}

export type HeraldSocket = WebSocket<SessionData>;

// uWS's send statuses.
const SEND_BACKPRESSURE = 0;
const SEND_SUCCESS = 1;

export interface OutletSettings {
  /** A socket whose send buffer passes this is closed with 4002 (slow consumer). */
  readonly maxBufferedBytes: number;
  /** A socket waited on to drain (a paced resume) that takes nothing in this long is closed with 4002. */
  readonly drainStallMs: number;
  /** Told the buffer size whenever it builds up. */
  readonly noteBuffered: (bytes: number) => void;
}

/**
 * One connection's state. uWS copies user data onto the socket object, so state that the upgrade
 * continuation and the socket handlers both change lives behind this one shared reference.
 *
 * It is also the hub's view of the socket (its Outlet): a client that cannot keep up is closed
 * with 4002 so it reconnects and resumes from history, and an event is never silently skipped
 * for it. One object per socket, with methods on the prototype: nothing else is made per socket.
 */
export class Session implements Outlet {
  /** Set by the open handler; cleared by the close handler, after which the socket must not be touched. */
  socket: HeraldSocket | undefined = undefined;
  /** The socket the outlet sends on: set with `socket` but kept after the close, as a socket's own outlet would. */
  private ws: HeraldSocket | undefined = undefined;
  /** True while `res.cork(() => res.upgrade())` runs (see welcome()). */
  upgrading = true;
  /** The socket's place in its user's stream, from the welcome on. */
  member: Member | undefined = undefined;
  /** Frames received from the client. */
  framesReceived = 0;
  /** A resume was asked for (by URL or frame); only one per connection. */
  resumeAsked = false;
  /** The session's place in the node's ExpiryQueue; -1 when not queued. */
  expirySlot = -1;
  /** Frames the client may still send (4003 when exhausted); made at the first frame (full until then). */
  inbound: TokenBucket | undefined = undefined;
  /** Told when the socket's send buffer drains, and when it closes; made when first waited on. */
  drains: DrainSignal | undefined = undefined;
  /** The node closed the socket (see endSocket), rather than its client. */
  closedByServer = false;

  constructor(
    readonly userId: string,
    readonly connectionId: string,
    readonly lease: Lease,
    /** `?since=` from the URL, if any (checked after the welcome). */
    readonly since: string | undefined,
    /** When the token expires (ms since the epoch); the socket is closed with 4001 then. */
    readonly expiresAt: number,
    private readonly outletSettings: OutletSettings,
  ) {}

  /** For the open handler: the socket is usable from now on. */
  socketOpened(ws: HeraldSocket): void {
    this.socket = ws;
    this.ws = ws;
  }

  /** For the close handler: the socket must not be touched any more. */
  socketClosed(): void {
    this.socket = undefined;
    this.drains?.notify();
  }

  async whenBufferedBelow(bytes: number): Promise<void> {
    const ws = this.outletSocket();
    while (this.socket && ws.getBufferedAmount() > bytes) {
      if (await drainsOf(this).next(this.outletSettings.drainStallMs)) continue;
      if (this.socket) endSocket(ws, CloseCodes.SLOW_CONSUMER.code, 'slow consumer');
      return;
    }
  }

  send(frame: Buffer | string): SendOutcome {
    const settings = this.outletSettings;
    if (frame.length > settings.maxBufferedBytes) return 'too_large';
    const ws = this.outletSocket();
    const status = ws.send(frame, false);
    if (status === SEND_SUCCESS) return 'sent';
    if (status === SEND_BACKPRESSURE) {
      const buffered = ws.getBufferedAmount();
      settings.noteBuffered(buffered);
      if (buffered > settings.maxBufferedBytes) endSocket(ws, CloseCodes.SLOW_CONSUMER.code, 'slow consumer');
      return 'sent';
    }
    endSocket(ws, CloseCodes.SLOW_CONSUMER.code, 'slow consumer');
    return 'refused';
  }

  close(code: number, reason: string): void {
    endSocket(this.outletSocket(), code, reason);
  }

  private outletSocket(): HeraldSocket {
    if (!this.ws) throw new Error('a session is used as an outlet before its socket opened');
    return this.ws;
  }
}

export function sendControl(ws: HeraldSocket, frame: ServerControlFrame): void {
  ws.send(encodeControlFrame(frame));
}

/** Closes a socket whose token expired (4001); the node's ExpiryQueue calls it. */
export function closeExpired(session: Session): void {
  if (session.socket) endSocket(session.socket, CloseCodes.TOKEN_EXPIRED.code, 'expired');
}

