import { hostname } from 'node:os';
import type { ClusterNode } from 'ioredis';
import { DEFAULT_MAX_EVENT_BYTES } from '@herald/protocol';
import {
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
  DEFAULT_RETENTION,
  RETENTION_LIMITS,
  validateChannelPrefix,
  type RetentionPolicy,
} from '@herald/publisher-sdk/storage';
import { publicKeyFromPem, type PublicVerificationKey } from '../auth/keys.js';
import { ConfigError } from './errors.js';
import {
  boolean,
  clusterNodes,
  integer,
  list,
  matching,
  oneOf,
  optional,
  secret,
  text,
  url,
  type Parser,
} from './parsers.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where JWT signatures are checked against. `development` means: generate a secret at start. */
export type JwtKeySource =
  | { readonly kind: 'secret'; readonly secret: string }
  | { readonly kind: 'public-key'; readonly publicKey: PublicVerificationKey }
  | { readonly kind: 'jwks'; readonly url: URL }
  | { readonly kind: 'development' };

export interface AuthSettings {
  readonly key: JwtKeySource;
  readonly issuer: string | undefined;
  readonly audience: readonly string[] | undefined;
}

export interface GatewayConfig {
  readonly production: boolean;
  readonly port: number;
  readonly host: string;
  readonly nodeId: string;
  /** Unset (and no cluster): the embedded in-memory broker (one node only). */
  readonly redisUrl: string | undefined;
  /** Nodes of a Redis Cluster (exclusive with redisUrl); unset: not a cluster. */
  readonly redisClusterNodes: readonly ClusterNode[] | undefined;
  /** Deadline of every Redis command. */
  readonly redisCommandTimeoutMs: number;
  readonly channelPrefix: string;
  readonly auth: AuthSettings;
  /** Unset: the publish API answers 404 (in development a key is generated at start). */
  readonly publishKey: string | undefined;
  readonly maxInboundFrameBytes: number;
  readonly maxPublishBytes: number;
  readonly maxBufferedBytes: number;
  readonly idleTimeoutSeconds: number;
  /** What is kept per user; written to Redis for every publisher of the deployment. */
  readonly retention: RetentionPolicy;
  readonly idempotencyWindowSeconds: number;
  /** Admin listener: /metrics, /healthz, /readyz. */
  readonly adminPort: number;
  readonly adminHost: string;
  /** Also answer /healthz and /readyz on the public port. */
  readonly publicProbes: boolean;
  readonly maxConnections: number;
  readonly maxConnectionsPerUser: number;
  readonly upgradeRatePerIp: number;
  readonly upgradeBurstPerIp: number;
  /** Take the client address from X-Forwarded-For (last entry), as set by a trusted load balancer. */
  readonly trustProxy: boolean;
  readonly maxInboundMessagesPerSecond: number;
  readonly drainDelayMs: number;
  readonly drainSpreadMs: number;
  readonly drainGraceMs: number;
  readonly logLevel: LogLevel;
}

interface Variable<T> {
  /** Raw default, parsed like an environment value; undefined: optional, no default. */
  readonly default?: string;
  /** An empty value is a value, not "unset" (which is what it means for every other variable). */
  readonly emptyIsValue?: true;
  readonly description: string;
  readonly parse: Parser<T>;
}

const idleTimeout: Parser<number> = (raw, name) => {
  const seconds = integer(0, 960)(raw, name);
  if (seconds !== 0 && seconds < 8) {
    throw new ConfigError(name, `must be 0 (disabled) or from 8 to 960 seconds (got ${seconds})`);
  }
  return seconds;
};

const channelPrefix: Parser<string> = (raw, name) => {
  try {
    return validateChannelPrefix(text()(raw, name));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(name, (error as Error).message.replace(/^channel prefix /, ''));
  }
};

const publicKey: Parser<PublicVerificationKey> = (raw, name) => {
  try {
    return publicKeyFromPem(text()(raw, name));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(name, (error as Error).message);
  }
};

/** Every environment variable the gateway reads: the single source for parsing and for the docs. */
export const CONFIG_VARIABLES = {
  NODE_ENV: {
    description:
      'Unset, `development` or `test`: development defaults (a generated JWT secret and publish key) are allowed. Any other value (`production`, `staging`, empty…) forbids them.',
    emptyIsValue: true,
    parse: optional(text()),
  },
  PORT: { default: '8080', description: 'Public port: WebSockets on /ws and the HTTP publish API (health probes too with PUBLIC_PROBES=true).', parse: integer(0, 65535) },
  HOST: { default: '0.0.0.0', description: 'Address to listen on.', parse: text() },
  NODE_ID: {
    description: 'Name of this node in logs, welcome frames and metrics. Default: `<hostname>-<pid>`.',
    parse: optional(matching(/^[A-Za-z0-9_.:-]{1,64}$/, '1-64 characters from A-Z a-z 0-9 _ . : -')),
  },
  REDIS_URL: {
    description: 'redis:// or rediss:// URL shared by every node. Unset: embedded in-memory broker, single node only.',
    parse: optional(url(['redis:', 'rediss:'])),
  },
  REDIS_CLUSTER_NODES: {
    description:
      'A Redis Cluster (7.0 or later) instead of one Redis: some of its nodes as host:port,host:port (the rest are discovered). Events travel by sharded pub/sub. Exclusive with REDIS_URL.',
    parse: optional(clusterNodes()),
  },
  EMBEDDED_BROKER: {
    default: 'false',
    description:
      'true: run on the embedded in-memory broker although NODE_ENV is production-like (one node only: it shares nothing with other nodes). Without it, such a node refuses to start unless REDIS_URL or REDIS_CLUSTER_NODES is set.',
    parse: boolean(),
  },
  REDIS_COMMAND_TIMEOUT_MS: {
    default: '2000',
    description:
      'Deadline of every Redis command: a publish or upgrade waiting on a Redis that does not answer is answered 503 after at most two of them. (Each connection is also PINGed every 250 ms: one unanswered for 1 s makes the node unready, for 10 s it is made again.)',
    parse: integer(100, 60_000),
  },
  CHANNEL_PREFIX: {
    default: DEFAULT_CHANNEL_PREFIX,
    description: 'Prefix of every Redis channel and key; must match the publishers\' `channelPrefix`.',
    parse: channelPrefix,
  },
  JWT_SECRET: { description: 'HS256 secret (at least 32 bytes).', parse: optional(secret(32)) },
  JWT_PUBLIC_KEY: {
    description: 'PEM public key (RSA ≥ 2048 bits → RS256/384/512, RSA-PSS ≥ 2048 bits → PS256/384/512, EC P-256/384/521 → ES256/384/512, Ed25519 → EdDSA).',
    parse: optional(publicKey),
  },
  JWT_JWKS_URL: { description: 'JWKS endpoint (https://; http:// only for localhost).', parse: optional(url(['https:', 'http:'])) },
  JWT_ISSUER: { description: 'Required `iss` claim, when set.', parse: optional(text()) },
  JWT_AUDIENCE: { description: 'Accepted `aud` values (comma-separated), when set.', parse: optional(list()) },
  HERALD_PUBLISH_KEY: {
    description: 'Bearer key for `POST /v1/publish` (at least 16 bytes). Unset: the publish API is off.',
    parse: optional(secret(16)),
  },
  MAX_INBOUND_FRAME_BYTES: {
    default: '4096',
    description: 'Largest frame a client may send; larger ones close the socket with 1009.',
    parse: integer(64, 1024 * 1024),
  },
  MAX_PUBLISH_BYTES: {
    default: String(DEFAULT_MAX_EVENT_BYTES),
    description: 'Largest `POST /v1/publish` body and encoded event.',
    parse: integer(1024, 16 * 1024 * 1024),
  },
  MAX_BUFFERED_BYTES: {
    default: String(1024 * 1024),
    description: 'Bytes a socket may have waiting to be sent; past it the socket is closed, never silently skipped.',
    parse: integer(64 * 1024, 1024 * 1024 * 1024),
  },
  WS_IDLE_TIMEOUT_SECONDS: {
    default: '120',
    description: 'Close sockets silent this long; pings are sent automatically before. 0 or 8-960.',
    parse: idleTimeout,
  },
  HISTORY_MAX_EVENTS: {
    default: String(DEFAULT_RETENTION.maxEvents),
    description: 'Events kept per user for clients that resume (approximate trim). Written to Redis: every publisher uses it.',
    parse: integer(RETENTION_LIMITS.maxEvents.min, RETENTION_LIMITS.maxEvents.max),
  },
  HISTORY_TTL_SECONDS: {
    default: String(DEFAULT_RETENTION.ttlSeconds),
    description: "Seconds a user's history is kept after their last event. Written to Redis: every publisher uses it.",
    parse: integer(RETENTION_LIMITS.ttlSeconds.min, RETENTION_LIMITS.ttlSeconds.max),
  },
  HISTORY_POSITION_TTL_SECONDS: {
    default: String(DEFAULT_RETENTION.positionTtlSeconds),
    description:
      "Seconds a user's position (history epoch and event count) is kept after their last event or connection, so a client that missed nothing resumes without herald.gap after the history expired. At least HISTORY_TTL_SECONDS.",
    parse: integer(RETENTION_LIMITS.positionTtlSeconds.min, RETENTION_LIMITS.positionTtlSeconds.max),
  },
  IDEMPOTENCY_WINDOW_SECONDS: {
    default: String(DEFAULT_IDEMPOTENCY_WINDOW_SECONDS),
    description: 'Seconds an idempotency key is remembered by POST /v1/publish.',
    parse: integer(1, 7 * 24 * 3600),
  },
  ADMIN_PORT: {
    default: '9090',
    description: 'Admin port: /metrics (Prometheus), /healthz, /readyz. Keep it off the public network.',
    parse: integer(0, 65535),
  },
  ADMIN_HOST: { description: 'Address the admin port listens on. Default: HOST.', parse: optional(text()) },
  PUBLIC_PROBES: {
    default: 'false',
    description: 'true: also answer /healthz and /readyz on the public port (for load balancers that cannot use another port).',
    parse: boolean(),
  },
  MAX_CONNECTIONS: {
    default: '15000',
    description: 'Open sockets per node; further upgrades get 503. Stay below the process open-file limit.',
    parse: integer(1, 1_000_000),
  },
  MAX_CONNECTIONS_PER_USER: {
    default: '20',
    description: "Sockets per user on one node; a new one beyond it closes the user's oldest with 4500.",
    parse: integer(1, 10_000),
  },
  UPGRADE_RATE_PER_IP: {
    default: '20',
    description: 'WebSocket upgrades per second per client address (token bucket); beyond it: 429.',
    parse: integer(1, 100_000),
  },
  UPGRADE_BURST_PER_IP: {
    default: '40',
    description: 'Upgrades a client address may make at once before UPGRADE_RATE_PER_IP applies.',
    parse: integer(1, 100_000),
  },
  TRUST_PROXY: {
    default: 'false',
    description: 'true: the client address is the last X-Forwarded-For entry (set it when behind a load balancer that adds it).',
    parse: boolean(),
  },
  MAX_INBOUND_MESSAGES_PER_SECOND: {
    default: '20',
    description: 'Frames per second a client may send (burst: twice that); beyond it the socket closes with 4003.',
    parse: integer(1, 10_000),
  },
  DRAIN_DELAY_MS: {
    default: '5000',
    description: 'On SIGTERM: /readyz turns 503 at once; sockets are still taken for this long, so load balancers notice first.',
    parse: integer(0, 600_000),
  },
  DRAIN_SPREAD_MS: {
    default: '10000',
    description: 'Then open sockets are closed with 1001 at random moments over this long, so clients do not reconnect all at once.',
    parse: integer(0, 600_000),
  },
  DRAIN_GRACE_MS: {
    default: '5000',
    description: 'Then sockets still open are cut; the process exits 0 at most DRAIN_DELAY_MS + DRAIN_SPREAD_MS + DRAIN_GRACE_MS after the signal.',
    parse: integer(0, 600_000),
  },
  LOG_LEVEL: { default: 'info', description: `One of ${LOG_LEVELS.join(', ')}.`, parse: oneOf(LOG_LEVELS) },
} as const satisfies Record<string, Variable<unknown>>;

export type ConfigVariableName = keyof typeof CONFIG_VARIABLES;

type Environment = Readonly<Record<string, string | undefined>>;

function read<N extends ConfigVariableName>(env: Environment, name: N): ReturnType<(typeof CONFIG_VARIABLES)[N]['parse']> {
  const variable: Variable<unknown> = CONFIG_VARIABLES[name];
  const raw = env[name];
  const value = raw === undefined || (raw === '' && variable.emptyIsValue !== true) ? variable.default : raw;
  return variable.parse(value, name) as ReturnType<(typeof CONFIG_VARIABLES)[N]['parse']>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

function jwtKeySource(env: Environment, production: boolean): JwtKeySource {
  const secretValue = read(env, 'JWT_SECRET');
  const pem = read(env, 'JWT_PUBLIC_KEY');
  const jwks = read(env, 'JWT_JWKS_URL');
  const given = [secretValue && 'JWT_SECRET', pem && 'JWT_PUBLIC_KEY', jwks && 'JWT_JWKS_URL'].filter(Boolean);
  if (given.length > 1) {
    throw new ConfigError(String(given[1]), `cannot be combined with ${String(given[0])}; set exactly one JWT key source`);
  }
  if (secretValue) return { kind: 'secret', secret: secretValue };
  if (pem) return { kind: 'public-key', publicKey: pem };
  if (jwks) {
    if (jwks.protocol === 'http:' && !isLoopback(jwks.hostname)) {
      throw new ConfigError('JWT_JWKS_URL', 'must use https:// (http:// is accepted only for localhost)');
    }
    return { kind: 'jwks', url: jwks };
  }
  if (production) {
    throw new ConfigError(
      'JWT_SECRET',
      `is required when NODE_ENV is ${JSON.stringify(env['NODE_ENV'])} (or set JWT_PUBLIC_KEY or JWT_JWKS_URL; development defaults need NODE_ENV unset, development or test)`,
    );
  }
  return { kind: 'development' };
}

const DEVELOPMENT_ENVIRONMENTS: ReadonlySet<string | undefined> = new Set([undefined, 'development', 'test']);

function retention(env: Environment): RetentionPolicy {
  const policy = {
    maxEvents: read(env, 'HISTORY_MAX_EVENTS'),
    ttlSeconds: read(env, 'HISTORY_TTL_SECONDS'),
    positionTtlSeconds: read(env, 'HISTORY_POSITION_TTL_SECONDS'),
  };
  if (policy.positionTtlSeconds < policy.ttlSeconds) {
    throw new ConfigError(
      'HISTORY_POSITION_TTL_SECONDS',
      `must be at least HISTORY_TTL_SECONDS (${policy.ttlSeconds}), got ${policy.positionTtlSeconds}`,
    );
  }
  return policy;
}

function redisTarget(env: Environment, production: boolean): Pick<GatewayConfig, 'redisUrl' | 'redisClusterNodes'> {
  const redisUrl = read(env, 'REDIS_URL')?.toString();
  const redisClusterNodes = read(env, 'REDIS_CLUSTER_NODES');
  const embedded = read(env, 'EMBEDDED_BROKER');
  if (redisUrl !== undefined && redisClusterNodes !== undefined) {
    throw new ConfigError('REDIS_CLUSTER_NODES', 'cannot be set together with REDIS_URL: set REDIS_URL for one Redis, or REDIS_CLUSTER_NODES for a cluster');
  }
  const redis = redisUrl !== undefined || redisClusterNodes !== undefined;
  if (embedded && redis) {
    throw new ConfigError('EMBEDDED_BROKER', `cannot be true together with ${redisUrl !== undefined ? 'REDIS_URL' : 'REDIS_CLUSTER_NODES'}: choose one broker`);
  }
  // A fleet of nodes on the embedded broker would each deliver only their own publishes: never by accident.
  if (production && !redis && !embedded) {
    throw new ConfigError(
      'REDIS_URL',
      `is required when NODE_ENV is ${JSON.stringify(env['NODE_ENV'])} (or REDIS_CLUSTER_NODES; EMBEDDED_BROKER=true runs this one node on the embedded broker, shared with no other node)`,
    );
  }
  return { redisUrl, redisClusterNodes };
}

/** Reads and checks the whole configuration. Throws ConfigError naming the first bad variable. */
export function loadConfig(env: Environment = process.env): GatewayConfig {
  // Only the three names that mean "not production" allow development defaults: a typo or a
  // variant ("Production", "prod ") gets production rules, never a generated secret.
  const production = !DEVELOPMENT_ENVIRONMENTS.has(read(env, 'NODE_ENV'));
  const maxPublishBytes = read(env, 'MAX_PUBLISH_BYTES');
  const maxBufferedBytes = read(env, 'MAX_BUFFERED_BYTES');
  if (maxBufferedBytes < 2 * maxPublishBytes) {
    throw new ConfigError(
      'MAX_BUFFERED_BYTES',
      `must be at least twice MAX_PUBLISH_BYTES (${2 * maxPublishBytes}) so one large event never overflows a healthy socket`,
    );
  }
  const port = read(env, 'PORT');
  const host = read(env, 'HOST');
  const adminPort = read(env, 'ADMIN_PORT');
  if (adminPort !== 0 && adminPort === port) {
    throw new ConfigError('ADMIN_PORT', `must differ from PORT (both are ${port})`);
  }
  const auth = { key: jwtKeySource(env, production), issuer: read(env, 'JWT_ISSUER'), audience: read(env, 'JWT_AUDIENCE') };
  const redis = redisTarget(env, production);
  return {
    production,
    port,
    host,
    nodeId: read(env, 'NODE_ID') ?? `${hostname().replace(/[^A-Za-z0-9_.:-]/g, '-').slice(0, 50)}-${process.pid}`,
    ...redis,
    redisCommandTimeoutMs: read(env, 'REDIS_COMMAND_TIMEOUT_MS'),
    channelPrefix: read(env, 'CHANNEL_PREFIX'),
    auth,
    publishKey: read(env, 'HERALD_PUBLISH_KEY'),
    maxInboundFrameBytes: read(env, 'MAX_INBOUND_FRAME_BYTES'),
    maxPublishBytes,
    maxBufferedBytes,
    idleTimeoutSeconds: read(env, 'WS_IDLE_TIMEOUT_SECONDS'),
    retention: retention(env),
    idempotencyWindowSeconds: read(env, 'IDEMPOTENCY_WINDOW_SECONDS'),
    adminPort,
    adminHost: read(env, 'ADMIN_HOST') ?? host,
    publicProbes: read(env, 'PUBLIC_PROBES'),
    maxConnections: read(env, 'MAX_CONNECTIONS'),
    maxConnectionsPerUser: read(env, 'MAX_CONNECTIONS_PER_USER'),
    upgradeRatePerIp: read(env, 'UPGRADE_RATE_PER_IP'),
    upgradeBurstPerIp: read(env, 'UPGRADE_BURST_PER_IP'),
    trustProxy: read(env, 'TRUST_PROXY'),
    maxInboundMessagesPerSecond: read(env, 'MAX_INBOUND_MESSAGES_PER_SECOND'),
    drainDelayMs: read(env, 'DRAIN_DELAY_MS'),
    drainSpreadMs: read(env, 'DRAIN_SPREAD_MS'),
    drainGraceMs: read(env, 'DRAIN_GRACE_MS'),
    logLevel: read(env, 'LOG_LEVEL'),
  };
}
