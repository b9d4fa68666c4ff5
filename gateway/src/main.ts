#!/usr/bin/env node
import { isIPv6 } from 'node:net';
import { resolveCredentials, DEVELOPMENT_USER_ID } from './auth/development.js';
import { unknownVariables } from './config/unknown-variables.js';
import { ConfigError } from './config/errors.js';
import { loadConfig, type GatewayConfig } from './config/schema.js';
import { startGateway } from './gateway.js';
import { createLogger } from './logger.js';
import { ListenError } from './transport/listen.js';
import { NativeTransportUnavailableError } from './transport/uws.js';

const EXIT_CONFIG = 78;
/** A repeat of the first signal within this long is the same request, not a second one. */
const REPEATED_SIGNAL_MS = 1000;

function fail(message: string, code: number): never {
  process.stderr.write(`herald: ${message}\n`);
  process.exit(code);
}

function readConfig(): GatewayConfig {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(`configuration error: ${error.message}`, EXIT_CONFIG);
    throw error;
  }
}

interface BannerContent {
  readonly baseHttp: string;
  readonly baseWs: string;
  readonly token: string | undefined;
  readonly publishKey: string | undefined;
  /** Why the node is not ready, when it is not (Redis unreachable). */
  readonly notReady: string | undefined;
}

function developmentBanner({ baseHttp, baseWs, token, publishKey, notReady }: BannerContent): string {
  const lines = ['', 'Herald development node (not for production):'];
  if (notReady !== undefined) lines.push(`  Not ready: ${notReady}; retrying (GET /readyz says when it is ready).`);
  if (token !== undefined) {
    lines.push(
      '  No JWT key is configured, so a random secret was generated for this process.',
      `  Connect as "${DEVELOPMENT_USER_ID}" (token valid 24 h):`,
      `    ${baseWs}/ws?token=${token}`,
    );
  }
  if (publishKey !== undefined) {
    lines.push(
      '  No HERALD_PUBLISH_KEY is set, so one was generated. Publish an event with:',
      `    curl -X POST ${baseHttp}/v1/publish -H 'authorization: Bearer ${publishKey}' \\`,
      `      -d '{"user_id":"${DEVELOPMENT_USER_ID}","type":"agent_started","run_id":"run-1","data":{}}'`,
    );
  }
  lines.push(`  Demo page (live agent runs of "${DEVELOPMENT_USER_ID}"): ${baseHttp}/`);
  return `${lines.join('\n')}\n\n`;
}

/** How a URL names the listen address: a wildcard is reached as localhost, an IPv6 literal needs brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return isIPv6(host) ? `[${host}]` : host;
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel, config.nodeId);
  const credentials = await resolveCredentials(config.auth, config.publishKey, config.production);
  if (config.redisUrl === undefined && config.redisClusterNodes === undefined) {
    logger.warn('REDIS_URL is not set: using the embedded in-memory broker (one node only, no shared fleet)');
  }
  if (credentials.publishKey === undefined) logger.warn('HERALD_PUBLISH_KEY is not set: the publish API is off');
  for (const { name, closest } of unknownVariables(process.env)) {
    logger.warn(
      { variable: name, ...(closest ? { did_you_mean: closest } : {}) },
      closest ? `unknown variable ${name} is ignored: did you mean ${closest}?` : `unknown variable ${name} is ignored`,
    );
  }

  let gateway;
  try {
    gateway = await startGateway({
      config,
      verificationKey: credentials.verificationKey,
      publishKey: credentials.publishKey,
      logger,
    });
  } catch (error) {
    if (error instanceof NativeTransportUnavailableError || error instanceof ListenError) fail(error.message, 1);
    fail(`cannot start: ${(error as Error).message}`, 1);
  }

  const host = urlHost(config.host);
  if (credentials.token !== undefined || credentials.generatedPublishKey) {
    const broker = gateway.broker.health();
    process.stdout.write(
      developmentBanner({
        baseHttp: `http://${host}:${gateway.port}`,
        baseWs: `ws://${host}:${gateway.port}`,
        token: credentials.token,
        publishKey: credentials.generatedPublishKey ? credentials.publishKey : undefined,
        notReady: broker.connected ? undefined : broker.summary,
      }),
    );
  } else if (!config.production) {
    // Keys configured: no banner (the output stays JSON lines), but the demo page is served.
    logger.info({ url: `http://${host}:${gateway.port}/` }, 'development demo page (live agent runs of dev-user)');
  }

  const running = gateway;
  let first: { readonly signal: NodeJS.Signals; readonly at: number } | undefined;
  const shutdown = (signal: NodeJS.Signals) => {
    if (first !== undefined) {
      // Under `npm start`, Ctrl-C (and `timeout`) signal the whole process group, and npm and its
      // launcher forward the same signal to node: the copies arrive together and must not cut the
      // drain short.
      if (signal === first.signal && performance.now() - first.at < REPEATED_SIGNAL_MS) return;
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    first = { signal, at: performance.now() };
    logger.info({ signal }, 'shutting down');
    running.drain().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // A closed terminal: without a handler the node would die without draining.
  process.on('SIGHUP', shutdown);
  // Started with an IPC channel (npm start's launcher): the channel closes when the launcher dies,
  // even of SIGKILL; drain as on a hangup rather than run on without it.
  if (process.channel) process.once('disconnect', () => shutdown('SIGHUP'));
}

main().catch((error: unknown) => fail(`fatal: ${(error as Error).stack ?? String(error)}`, 1));
