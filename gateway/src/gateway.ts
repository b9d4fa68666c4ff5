import type { us_listen_socket } from 'uWebSockets.js';
import { CloseCodes } from '@herald/protocol';
import type { Logger } from 'pino';
import { createTokenVerifier, type VerificationKey } from './auth/verifier.js';
import type { Broker } from './broker/broker.js';
import { createBroker } from './broker/create.js';
import type { GatewayConfig } from './config/schema.js';
import { Hub } from './hub/hub.js';
import { registerHttpRoutes } from './transport/routes.js';
import { SocketRegistry } from './transport/socket-registry.js';
import { loadNativeUws } from './transport/uws.js';
import type { SocketData } from './transport/session.js';
import { createWebSocketBehavior } from './transport/websocket.js';

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
  readonly nodeId: string;
  readonly broker: Broker;
  /** Open sockets. */
  readonly connections: number;
  /** Users this node is subscribed to. */
  readonly subscribedUsers: number;
  /** Stops taking sockets, closes the open ones with 1001, disconnects the broker. */
  stop(): Promise<void>;
}

const CLOSE_GRACE_MS = 5000;

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, logger } = options;
  const uws = loadNativeUws();
  const broker = options.broker ?? createBroker(config, logger);
  try {
    await broker.start();
  } catch (error) {
    // Keep running: the broker retries, /readyz stays 503 and sockets are refused until it connects.
    logger.error({ err: error, broker: broker.kind }, 'broker not reachable at start; retrying');
  }

  const app = uws.App();
  const sockets = new SocketRegistry<SocketData>();
  let accepting = true;
  const hub = new Hub(broker, { nodeId: config.nodeId, logger });

  app.ws<SocketData>(
    '/ws',
    createWebSocketBehavior(
      {
        nodeId: config.nodeId,
        maxInboundFrameBytes: config.maxInboundFrameBytes,
        maxBufferedBytes: config.maxBufferedBytes,
        idleTimeoutSeconds: config.idleTimeoutSeconds,
      },
      {
        uws,
        verifier: createTokenVerifier(options.verificationKey, config.auth),
        hub,
        broker,
        sockets,
        logger,
        accepting: () => accepting,
      },
    ),
  );
  registerHttpRoutes(app, {
    nodeId: config.nodeId,
    broker,
    ready: () => hub.ready,
    logger,
    publishKey: options.publishKey,
    maxPublishBytes: config.maxPublishBytes,
    accepting: () => accepting,
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`cannot listen on ${config.host}:${config.port} (address in use or not available)`));
    });
  });
  const port = uws.us_socket_local_port(listenSocket);
  logger.info({ host: config.host, port, broker: broker.kind }, 'gateway listening');

  let stopping: Promise<void> | undefined;
  return {
    port,
    nodeId: config.nodeId,
    broker,
    get connections() {
      return sockets.size;
    },
    get subscribedUsers() {
      return hub.subscribedUsers;
    },
    stop() {
      stopping ??= (async () => {
        accepting = false;
        uws.us_listen_socket_close(listenSocket);
        await sockets.closeAll(CloseCodes.GOING_AWAY.code, 'node shutting down', CLOSE_GRACE_MS);
        await broker.close();
        logger.info('gateway stopped');
      })();
      return stopping;
    },
  };
}
