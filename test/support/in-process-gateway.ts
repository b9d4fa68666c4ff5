import {
  createLogger,
  loadConfig,
  resolveCredentials,
  startGateway,
  type Broker,
  type RunningGateway,
} from '@herald/gateway';
import { GENEROUS_LIMITS } from './gateway-process.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY } from './tokens.js';

export interface TestGateway {
  readonly gateway: RunningGateway;
  readonly httpUrl: string;
  readonly wsUrl: string;
  readonly adminUrl: string;
  stop(): Promise<void>;
}

/**
 * A gateway running inside the test process (real uWS, real HTTP, in-memory broker unless one
 * is given), configured from environment-style values like the real entry point.
 */
export async function startTestGateway(
  env: Record<string, string> = {},
  options: { readonly broker?: Broker } = {},
): Promise<TestGateway> {
  const config = loadConfig({
    PORT: '0',
    ADMIN_PORT: '0',
    HOST: '127.0.0.1',
    ...GENEROUS_LIMITS,
    JWT_SECRET: TEST_JWT_SECRET,
    HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY,
    NODE_ID: 'test-node',
    ...env,
  });
  const logger = createLogger(process.env['HERALD_TEST_LOG_LEVEL'] === 'debug' ? 'debug' : 'silent', config.nodeId);
  const credentials = await resolveCredentials(config.auth, config.publishKey, config.production);
  const gateway = await startGateway({
    config,
    verificationKey: credentials.verificationKey,
    publishKey: credentials.publishKey,
    logger,
    ...(options.broker ? { broker: options.broker } : {}),
  });
  return {
    gateway,
    httpUrl: `http://127.0.0.1:${gateway.port}`,
    wsUrl: `ws://127.0.0.1:${gateway.port}/ws`,
    adminUrl: `http://127.0.0.1:${gateway.adminPort}`,
    stop: () => gateway.stop(),
  };
}
