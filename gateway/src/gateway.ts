import { CloseCodes } from '@herald/protocol';
import type { Logger } from 'pino';
import { DEVELOPMENT_USER_ID, signToken } from './auth/development.js';
import { createTokenVerifier, type VerificationKey } from './auth/verifier.js';
import { BrokerMisconfiguredError, BrokerUnavailableError, type Broker } from './broker/broker.js';
import { createBroker } from './broker/create.js';
import { registerDemoRoutes } from './demo/routes.js';
import type { GatewayConfig } from './config/schema.js';
import { Hub } from './hub/hub.js';
import { positionRefreshInterval } from './hub/position-keeper.js';
import { GatewayMetrics } from './metrics.js';
import { startAdminServer } from './transport/admin.js';
import { registerHttpRoutes } from './transport/routes.js';
import { endSocket, type SessionData } from './transport/session.js';
import { SocketRegistry } from './transport/socket-registry.js';
import { loadNativeUws } from './transport/uws.js';
import { createWebSocketBehavior, type SocketData } from './transport/websocket.js';
import { listenExclusive } from './transport/listen.js';

/** The demo page asks for a new token on every connection: a short one will do. */
const DEMO_TOKEN_LIFETIME = '1h';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly verificationKey: VerificationKey;
  readonly publishKey: string | undefined;
  readonly logger: Logger;
  /** Defaults to the broker the configuration names. */
  readonly broker?: Broker;
}

export interface RunningGateway {
  readonly port: number;
  readonly adminPort: number;
  readonly nodeId: string;
  readonly broker: Broker;
  readonly metrics: GatewayMetrics;
  /** Open sockets. */
  readonly connections: number;
  /** Users this node is subscribed to. */
  readonly subscribedUsers: number;
  /**
   * Leaves the fleet gracefully: /readyz turns 503 at once; after DRAIN_DELAY_MS no new sockets;
   * open sockets are closed with 1001 spread over DRAIN_SPREAD_MS (cut after DRAIN_GRACE_MS more);
   * then the broker disconnects.
   */
  drain(): Promise<void>;
  /** Stops at once: no delay, no spread (tests, second signal). */
  stop(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, logger } = options;
  const uws = loadNativeUws();
  const broker = options.broker ?? createBroker(config, logger);

  const metrics = new GatewayMetrics(config.nodeId, config.maxConnections);
  const sockets = new SocketRegistry<SessionData>(endSocket);
  const hub = new Hub(broker, {
    nodeId: config.nodeId,
    logger,
    metrics,
    positionRefreshMs: positionRefreshInterval(config.retention.positionTtlSeconds),
    // A resume sends a page once the socket's buffer is below a page: it never passes 3/4 of the
    // slow-consumer limit (one event is at most half of it).
    historyPageBytes: Math.floor(config.maxBufferedBytes / 4),
    maxHeldBytesPerSocket: config.maxBufferedBytes,
  });
  let accepting = true;
  let draining = false;
  metrics.observe({
    connections: () => sockets.size,
    subscribedUsers: () => hub.subscribedUsers,
    brokerConnected: () => broker.health().connected,
    recovering: () => !hub.ready,
  });
  const probeSources = {
    nodeId: config.nodeId,
    broker,
    accepting: () => accepting && !draining,
    caughtUp: () => hub.ready,
  };

  const app = uws.App();
  app.ws<SocketData>(
    '/ws',
    createWebSocketBehavior(config, {
        uws,
        verifier: createTokenVerifier(options.verificationKey, config.auth),
        hub,
        broker,
        sockets,
        logger,
      metrics,
      accepting: () => accepting,
    }),
  );
  registerHttpRoutes(app, {
    ...probeSources,
    logger,
    metrics,
    publishKey: options.publishKey,
    maxPublishBytes: config.maxPublishBytes,
    probes: config.publicProbes,
  });
  if (!config.production) {
    const key = options.verificationKey;
    registerDemoRoutes(app, {
      nodeId: config.nodeId,
      publishKey: options.publishKey,
      issueToken: key.kind === 'secret' ? () => signToken(key.secret, DEVELOPMENT_USER_ID, config.auth, DEMO_TOKEN_LIFETIME) : undefined,
      logger,
    });
  }

  const listenSocket = await listenExclusive(uws, app, config.host, config.port, 'PORT').catch(async (error: unknown) => {
    await broker.close();
    throw error;
  });
  const port = uws.us_socket_local_port(listenSocket);
  const admin = await startAdminServer({ ...probeSources, uws, host: config.adminHost, port: config.adminPort, metrics, logger }).catch(
    async (error: unknown) => {
      uws.us_listen_socket_close(listenSocket);
      await broker.close();
      throw error;
    },
  );
  // Only a node that holds both its ports joins the fleet: connecting writes this node's retention
  // policy to Redis for every publisher, which a node that cannot start must never do. Until the
  // broker is connected, /readyz answers 503 and upgrades and publishes are refused with 503.
  try {
    await broker.start();
  } catch (error) {
    if (error instanceof BrokerMisconfiguredError) {
      uws.us_listen_socket_close(listenSocket);
      admin.close();
      await broker.close();
      throw error;
    }
    // Keep running: the broker retries, /readyz stays 503 and sockets are refused until it connects.
    // An unreachable Redis was logged by the broker, in one line that names it.
    if (!(error instanceof BrokerUnavailableError)) {
      logger.error({ err: error, broker: broker.kind }, 'broker not reachable at start; retrying');
    }
  }
  logger.info({ host: config.host, port, admin_port: admin.port, broker: broker.kind }, 'gateway listening');

  let leaving: Promise<void> | undefined;
  const leave = (delayMs: number, spreadMs: number, graceMs: number) => {
    leaving ??= (async () => {
      draining = true;
      logger.info({ delay_ms: delayMs, spread_ms: spreadMs, connections: sockets.size }, 'draining (a second signal stops at once)');
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      accepting = false;
      uws.us_listen_socket_close(listenSocket);
      await sockets.closeAll(CloseCodes.GOING_AWAY.code, 'node draining', spreadMs, graceMs);
      hub.stop();
      await broker.close();
      admin.close();
      logger.info('gateway stopped');
    })();
    return leaving;
  };

  return {
    port,
    adminPort: admin.port,
    nodeId: config.nodeId,
    broker,
    metrics,
    get connections() {
      return sockets.size;
    },
    get subscribedUsers() {
      return hub.subscribedUsers;
    },
    drain: () => leave(config.drainDelayMs, config.drainSpreadMs, config.drainGraceMs),
    stop: () => leave(0, 0, 1000),
  };
}
