import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { HttpRequest, HttpResponse, WebSocket, WebSocketBehavior, us_socket_context_t } from 'uWebSockets.js';
import { CloseCodes, encodeControlFrame, errorFrame, isEventId, parseClientFrame, welcomeFrame } from '@herald/protocol';
import { AuthError, type TokenVerifier } from '../auth/verifier.js';
import { readUpgradeCredentials } from '../auth/credentials.js';
import type { Broker } from '../broker/broker.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Hub } from '../hub/hub.js';
import { closeLabel } from '../metric-labels.js';
import type { GatewayMetrics } from '../metrics.js';
import { errorBody, guardResponse, respondLater, writeJson, type JsonResponse, type ResponseGuard } from './http.js';
import { KeyedRateLimiter, TokenBucket, clientAddress } from './limits.js';
import {
  closeExpired,
  endSocket,
  sendControl,
  Session,
  type HeraldSocket,
  type SessionData,
} from './session.js';
import { RefusedSocket, authCloseOf, type AuthClose, type RefusedData } from './refused-socket.js';
import { ExpiryQueue } from './expiry-queue.js';
import type { SocketRegistry } from './socket-registry.js';
import type { UwsModule } from './uws.js';

export type WebSocketSettings = Pick<
  GatewayConfig,
  | 'nodeId'
  | 'maxInboundFrameBytes'
  | 'maxBufferedBytes'
  | 'idleTimeoutSeconds'
  | 'maxConnections'
  | 'maxConnectionsPerUser'
  | 'upgradeRatePerIp'
  | 'upgradeBurstPerIp'
  | 'trustProxy'
  | 'maxInboundMessagesPerSecond'
>;

export interface WebSocketDependencies {
  readonly uws: UwsModule;
  readonly verifier: TokenVerifier;
  readonly hub: Hub;
  readonly broker: Broker;
  readonly sockets: SocketRegistry<SessionData>;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** False once the node stops taking sockets (shutting down). */
  readonly accepting: () => boolean;
}

/** What uWS keeps on a socket: a session, or the refusal of a socket accepted only to be closed. */
export type SocketData = SessionData | RefusedData;

function isSessionSocket(ws: WebSocket<SocketData>): ws is HeraldSocket {
  return 'session' in ws.getUserData();
}

/** The refusal a socket carries; call only when isSessionSocket() is false. */
function refusalOf(ws: WebSocket<SocketData>): RefusedSocket {
  return (ws.getUserData() as RefusedData).refused;
}

/**
 * Every X-Forwarded-For line of the request, joined. A proxy appends its own line after any the
 * client sent, so the last entry of all is the proxy's: getHeader would return only the first line,
 * the client's own, which it may fill with any address.
 */
function forwardedFor(req: HttpRequest): string {
  const lines: string[] = [];
  req.forEach((name, value) => {
    if (name === 'x-forwarded-for') lines.push(value);
  });
  return lines.join(',');
}

/** What the upgrade handler read from the request (valid only synchronously, so copied). */
interface UpgradeRequest {
  readonly key: string;
  readonly extensions: string;
  readonly token: string;
  readonly protocol: string;
  readonly since: string | undefined;
}

const PONG = encodeControlFrame({ type: 'herald.pong' });

type RefusalReason = Parameters<GatewayMetrics['upgradesRefused']['labels']>[0];

// A resume paced by the socket's drain closes a socket that takes in nothing for this long (4002).
const DRAIN_STALL_MS = 30_000;

// uWS buffers a frame up to maxPayloadLength before handing it over; frames between the
// configured limit and this hard cap are refused with 1009, larger ones are cut by uWS itself.
const HARD_FRAME_CAP_FACTOR = 4;

function unavailable(message: string): JsonResponse {
  return { status: 503, body: errorBody('unavailable', message), headers: { 'retry-after': '1' } };
}

export function createWebSocketBehavior(
  settings: WebSocketSettings,
  deps: WebSocketDependencies,
): WebSocketBehavior<SocketData> {
  const { verifier, hub, broker, sockets, logger, metrics } = deps;
  const upgradeLimiter = new KeyedRateLimiter(settings.upgradeRatePerIp, settings.upgradeBurstPerIp);
  const outletSettings = {
    maxBufferedBytes: settings.maxBufferedBytes,
    drainStallMs: DRAIN_STALL_MS,
    noteBuffered: (bytes: number) => metrics.noteBuffered(bytes),
  };
  const expiries = new ExpiryQueue<Session>(closeExpired);
  let upgradesInFlight = 0;

  function refuse(res: HttpResponse, reason: RefusalReason, response: JsonResponse): void {
    metrics.upgradesRefused.labels(reason).inc();
    writeJson(res, response);
  }

  function refuseLater(res: HttpResponse, guard: ResponseGuard, reason: RefusalReason, response: JsonResponse): void {
    metrics.upgradesRefused.labels(reason).inc();
    respondLater(res, guard, response);
  }

  /**
   * Joins the socket to its user's stream, then sends `herald.welcome`: from here on every event
   * published for the user reaches it. A `?since=` resume starts right after.
   *
   * Never inside `res.cork(() => res.upgrade())`: uWebSockets.js 20.30's cork() reads the HTTP
   * response state from the upgraded socket's memory after an asynchronous upgrade
   * (uNetworking/uWebSockets#1928); if the open handler has written to the socket, that read can
   * find a "close" flag and drop the fresh socket (about 1 in 300 upgrades under load). Upgrading
   * without cork avoids it but prints a warning per upgrade. So when uWS opens the socket inside
   * the cork, this runs right after the cork returns, in the same task: nothing can be published
   * in between. When uWS opens it later, it runs in the open handler.
   */
  function welcome(ws: HeraldSocket, session: Session): void {
    expiries.add(session);
    const { member, since } = hub.attach(session.userId, session);
    session.member = member;
    sendControl(
      ws,
      welcomeFrame({ node: settings.nodeId, user_id: session.userId, connection_id: session.connectionId, since }),
    );
    hub.closeOldestBeyond(session.userId, settings.maxConnectionsPerUser);
    if (session.since === undefined || !session.socket) return;
    session.resumeAsked = true;
    if (isEventId(session.since)) {
      void hub.resume(member, session.since);
    } else {
      metrics.resumes.labels('invalid_since').inc();
      sendControl(ws, errorFrame('invalid_since', 'since must be an event id like "1700000000000-0"; not resuming'));
    }
  }

  /**
   * Welcomes an upgraded socket. The upgrade is done: a failure here must not be answered as an
   * HTTP refusal (that would write HTTP onto the WebSocket); the socket is asked to resync.
   */
  function welcomeOrResync(ws: HeraldSocket, session: Session): void {
    try {
      welcome(ws, session);
    } catch (error) {
      logger.error({ err: error, connection_id: session.connectionId }, 'welcoming a socket failed; asking it to resync');
      if (session.socket) endSocket(ws, CloseCodes.RESYNC.code, 'could not welcome; reconnect and resume');
    }
  }

  function resume(ws: HeraldSocket, session: Session, since: string): void {
    const member = session.member;
    if (!member) return;
    if (session.resumeAsked || session.framesReceived > 1 || member.sent > 0) {
      metrics.resumes.labels('too_late').inc();
      sendControl(
        ws,
        errorFrame('resume_too_late', 'herald.resume must be the first frame, before any event; reconnect with ?since= instead'),
      );
      return;
    }
    session.resumeAsked = true;
    void hub.resume(member, since);
  }

  /**
   * Accepts the upgrade only to close the socket at once with why its token was refused (decision
   * 0026). The node's limits were applied before the token was read; the socket never joins the
   * hub and is never sent a frame.
   */
  function upgradeToClose(
    res: HttpResponse,
    context: us_socket_context_t,
    request: UpgradeRequest,
    close: AuthClose,
  ): void {
    const refused = new RefusedSocket(close);
    try {
      res.cork(() => {
        res.upgrade<SocketData>({ refused }, request.key, request.protocol, request.extensions, context);
      });
    } catch (error) {
      logger.warn({ err: error }, 'accepting a socket to close it failed');
      return;
    }
    refused.upgraded();
  }

  /** Answers an upgrade that did not become a session: a refused token closes the socket, anything else is a 503. */
  function answerFailure(
    res: HttpResponse,
    guard: ResponseGuard,
    context: us_socket_context_t,
    request: UpgradeRequest,
    error: unknown,
  ): void {
    if (!(error instanceof AuthError)) {
      logger.warn({ err: error }, 'websocket upgrade failed');
      respondLater(res, guard, unavailable('this node cannot subscribe to the user right now; retry'));
      return;
    }
    metrics.authFailures.labels(error.reason).inc();
    logger.debug({ reason: error.reason }, 'token refused');
    const close = authCloseOf(error);
    if (close === undefined) {
      respondLater(res, guard, { status: 503, body: errorBody(error.reason, error.message), headers: { 'retry-after': '5' } });
    } else if (!guard.aborted) {
      upgradeToClose(res, context, request, close);
    }
  }

  async function authorizeAndUpgrade(
    res: HttpResponse,
    context: us_socket_context_t,
    request: UpgradeRequest,
  ): Promise<void> {
    const guard = guardResponse(res);
    try {
      const identity = await verifier.verify(request.token);
      if (guard.aborted) return;
      if (!hub.accepts(identity.userId)) {
        refuseLater(res, guard, 'not_ready', unavailable('this node is catching the user up after a broker outage; retry'));
        return;
      }
      const lease = await hub.join(identity.userId);
      if (guard.aborted) {
        lease.release();
        return;
      }
      const session = new Session(
        identity.userId,
        randomBytes(9).toString('base64url'),
        lease,
        request.since,
        identity.expiresAt,
        outletSettings,
      );
      res.cork(() => {
        try {
          res.upgrade<SocketData>({ session }, request.key, request.protocol, request.extensions, context);
        } catch (error) {
          lease.release();
          throw error;
        }
      });
      session.upgrading = false;
      // The open handler ran inside the cork and left the welcome to us (see welcome()).
      if (session.socket) welcomeOrResync(session.socket, session);
    } catch (error) {
      answerFailure(res, guard, context, request, error);
    } finally {
      upgradesInFlight -= 1;
    }
  }

  return {
    compression: deps.uws.DISABLED,
    maxPayloadLength: settings.maxInboundFrameBytes * HARD_FRAME_CAP_FACTOR,
    idleTimeout: settings.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    // Slow consumers are closed at MAX_BUFFERED_BYTES by the outlet (4002); this cap is never reached.
    maxBackpressure: 2 * settings.maxBufferedBytes,
    closeOnBackpressureLimit: 0,
    maxLifetime: 0,

    upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t) {
      // The request object is only valid synchronously: read everything now.
      const credentials = readUpgradeCredentials({
        authorization: req.getHeader('authorization'),
        secWebSocketProtocol: req.getHeader('sec-websocket-protocol'),
        queryToken: req.getQuery('token') ?? '',
      });
      const since = req.getQuery('since');
      const request: UpgradeRequest = {
        key: req.getHeader('sec-websocket-key'),
        extensions: req.getHeader('sec-websocket-extensions'),
        token: credentials.token,
        protocol: credentials.protocol,
        since: since ? since : undefined,
      };
      if (!deps.accepting()) {
        refuse(res, 'shutting_down', unavailable('this node is shutting down; connect to another node'));
        return;
      }
      if (sockets.size + upgradesInFlight >= settings.maxConnections) {
        refuse(res, 'node_full', unavailable('this node is at its connection limit; connect to another node'));
        return;
      }
      const address = clientAddress(
        Buffer.from(res.getRemoteAddressAsText()).toString(),
        settings.trustProxy ? forwardedFor(req) : '',
        settings.trustProxy,
      );
      const allowed = upgradeLimiter.take(address);
      if (allowed !== true) {
        refuse(res, 'rate_limited', {
          status: 429,
          body: errorBody('rate_limited', 'too many connection attempts from this address; retry later'),
          headers: { 'retry-after': String(allowed) },
        });
        return;
      }
      if (!broker.health().connected) {
        refuse(res, 'not_ready', unavailable(`${broker.health().summary}; this node is not ready; retry`));
        return;
      }
      upgradesInFlight += 1;
      void authorizeAndUpgrade(res, context, request);
    },

    open(ws: WebSocket<SocketData>) {
      if (!isSessionSocket(ws)) {
        refusalOf(ws).opened(ws);
        return;
      }
      const { session } = ws.getUserData();
      session.socketOpened(ws);
      sockets.add(ws);
      metrics.connectionsOpened.inc();
      logger.debug({ connection_id: session.connectionId }, 'websocket opened');
      if (!session.upgrading) welcomeOrResync(ws, session);
    },

    message(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean) {
      // A refused socket is closing: whatever its client sends is ignored.
      if (!isSessionSocket(ws)) return;
      const { session } = ws.getUserData();
      const now = Date.now();
      const inbound = (session.inbound ??= new TokenBucket(settings.maxInboundMessagesPerSecond, 2 * settings.maxInboundMessagesPerSecond, now));
      if (!inbound.take(now)) {
        endSocket(ws, CloseCodes.RATE_LIMITED.code, 'too many frames');
        return;
      }
      if (isBinary) {
        endSocket(ws, CloseCodes.UNSUPPORTED_DATA.code, 'binary frames are not supported');
        return;
      }
      if (message.byteLength > settings.maxInboundFrameBytes) {
        endSocket(ws, CloseCodes.MESSAGE_TOO_BIG.code, `frames are limited to ${settings.maxInboundFrameBytes} bytes`);
        return;
      }
      session.framesReceived += 1;
      const parsed = parseClientFrame(Buffer.from(message).toString('utf8'));
      if (!parsed.ok) {
        sendControl(ws, parsed.error);
        return;
      }
      switch (parsed.frame.type) {
        case 'herald.ping':
          ws.send(PONG);
          return;
        case 'herald.resume':
          resume(ws, session, parsed.frame.since);
          return;
      }
    },

    drain(ws: WebSocket<SocketData>) {
      if (isSessionSocket(ws)) ws.getUserData().session.drains?.notify();
    },

    close(ws: WebSocket<SocketData>, code: number) {
      if (!isSessionSocket(ws)) {
        refusalOf(ws).closed();
        return;
      }
      const { session } = ws.getUserData();
      session.socketClosed();
      expiries.remove(session);
      sockets.remove(ws);
      if (session.member) hub.detach(session.member);
      session.lease.release();
      metrics.connectionsClosed.labels(closeLabel(code, session.closedByServer)).inc();
      logger.debug({ connection_id: session.connectionId, code }, 'websocket closed');
    },
  };
}
