import { generateKeyPairSync } from 'node:crypto';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../src/index.js';
import { unknownVariables } from '../src/config/unknown-variables.js';
import { thrownBy } from '../../test/support/errors.js';

const SECRET = 'x'.repeat(32);

function configError(env: Record<string, string>): ConfigError {
  return thrownBy(ConfigError, () => loadConfig(env));
}

describe('unknown variables', () => {
  it('names the known variable a misspelled HERALD_, REDIS_, JWT_ or HISTORY_ variable most likely means', () => {
    expect(
      unknownVariables({
        REDIS_ULR: 'redis://r',
        HERALD_PUBLISH_KYE: 'k',
        JWT_SECRT: 's',
        HISTORY_MAX_EVENT: '5',
        REDIS_SENTINELS: 'x',
        REDIS_URL: 'redis://r',
        PATH: '/bin',
        NODE_ENV: 'production',
      }),
    ).toEqual([
      { name: 'HERALD_PUBLISH_KYE', closest: 'HERALD_PUBLISH_KEY' },
      { name: 'HISTORY_MAX_EVENT', closest: 'HISTORY_MAX_EVENTS' },
      { name: 'JWT_SECRT', closest: 'JWT_SECRET' },
      { name: 'REDIS_SENTINELS', closest: undefined },
      { name: 'REDIS_ULR', closest: 'REDIS_URL' },
    ]);
  });
});

describe('gateway configuration', () => {
  it('has working defaults for a development node', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      production: false,
      port: 8080,
      host: '0.0.0.0',
      redisUrl: undefined,
      channelPrefix: 'herald',
      auth: { key: { kind: 'development' }, issuer: undefined, audience: undefined },
      publishKey: undefined,
      maxInboundFrameBytes: 4096,
      maxPublishBytes: 65536,
      maxBufferedBytes: 1048576,
      idleTimeoutSeconds: 120,
      retention: { maxEvents: 1000, ttlSeconds: 600, positionTtlSeconds: 604800 },
      idempotencyWindowSeconds: 300,
      adminPort: 9090,
      adminHost: '0.0.0.0',
      publicProbes: false,
      maxConnections: 15000,
      maxConnectionsPerUser: 20,
      upgradeRatePerIp: 20,
      upgradeBurstPerIp: 40,
      trustProxy: false,
      maxInboundMessagesPerSecond: 20,
      drainDelayMs: 5000,
      drainSpreadMs: 10000,
      drainGraceMs: 5000,
      logLevel: 'info',
    });
    expect(config.nodeId).toMatch(new RegExp(`-${process.pid}$`));
  });

  it('reads every variable', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: '9000',
      HOST: '127.0.0.1',
      NODE_ID: 'gw-1',
      REDIS_URL: 'redis://redis:6379/0',
      CHANNEL_PREFIX: 'prod',
      JWT_SECRET: SECRET,
      JWT_ISSUER: 'https://auth.example.com/',
      JWT_AUDIENCE: 'herald, herald-staging',
      HERALD_PUBLISH_KEY: 'p'.repeat(16),
      MAX_INBOUND_FRAME_BYTES: '8192',
      MAX_PUBLISH_BYTES: '32768',
      MAX_BUFFERED_BYTES: '65536',
      WS_IDLE_TIMEOUT_SECONDS: '0',
      HISTORY_MAX_EVENTS: '50',
      HISTORY_TTL_SECONDS: '60',
      HISTORY_POSITION_TTL_SECONDS: '3600',
      IDEMPOTENCY_WINDOW_SECONDS: '30',
      ADMIN_PORT: '9191',
      ADMIN_HOST: '10.0.0.5',
      PUBLIC_PROBES: 'true',
      MAX_CONNECTIONS: '500',
      MAX_CONNECTIONS_PER_USER: '3',
      UPGRADE_RATE_PER_IP: '5',
      UPGRADE_BURST_PER_IP: '10',
      TRUST_PROXY: 'true',
      MAX_INBOUND_MESSAGES_PER_SECOND: '4',
      DRAIN_DELAY_MS: '100',
      DRAIN_SPREAD_MS: '200',
      DRAIN_GRACE_MS: '300',
      LOG_LEVEL: 'debug',
    });
    expect(config).toEqual({
      production: true,
      port: 9000,
      host: '127.0.0.1',
      nodeId: 'gw-1',
      redisUrl: 'redis://redis:6379/0',
      redisCommandTimeoutMs: 2000,
      channelPrefix: 'prod',
      auth: { key: { kind: 'secret', secret: SECRET }, issuer: 'https://auth.example.com/', audience: ['herald', 'herald-staging'] },
      publishKey: 'p'.repeat(16),
      maxInboundFrameBytes: 8192,
      maxPublishBytes: 32768,
      maxBufferedBytes: 65536,
      idleTimeoutSeconds: 0,
      retention: { maxEvents: 50, ttlSeconds: 60, positionTtlSeconds: 3600 },
      idempotencyWindowSeconds: 30,
      adminPort: 9191,
      adminHost: '10.0.0.5',
      publicProbes: true,
      maxConnections: 500,
      maxConnectionsPerUser: 3,
      upgradeRatePerIp: 5,
      upgradeBurstPerIp: 10,
      trustProxy: true,
      maxInboundMessagesPerSecond: 4,
      drainDelayMs: 100,
      drainSpreadMs: 200,
      drainGraceMs: 300,
      logLevel: 'debug',
    });
  });

  it.each(['production', 'Production', 'PRODUCTION', 'prod', 'staging', 'production ', ' development', 'Development', ''])(
    'applies production rules for NODE_ENV=%p (development defaults only when unset, development or test)',
    (value) => {
      expect(configError({ NODE_ENV: value }).variable).toBe('JWT_SECRET');
      expect(loadConfig({ NODE_ENV: value, JWT_SECRET: SECRET, REDIS_URL: 'redis://r:6379' }).production).toBe(true);
    },
  );

  it.each([undefined, 'development', 'test'])('allows development defaults for NODE_ENV=%p', (value) => {
    const config = loadConfig(value === undefined ? {} : { NODE_ENV: value });
    expect(config).toMatchObject({ production: false, auth: { key: { kind: 'development' } } });
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' })).toMatchObject({ port: 8080, redisUrl: undefined });
  });

  it('refuses to run a production node on the embedded broker unless it is chosen explicitly', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: SECRET };
    expect(configError(production).message).toBe(
      'REDIS_URL is required when NODE_ENV is "production" (or REDIS_CLUSTER_NODES; EMBEDDED_BROKER=true runs this one node on the embedded broker, shared with no other node)',
    );
    expect(loadConfig({ ...production, EMBEDDED_BROKER: 'true' })).toMatchObject({ redisUrl: undefined, redisClusterNodes: undefined });
    expect(loadConfig({ ...production, REDIS_CLUSTER_NODES: 'r1:7000' }).redisClusterNodes).toEqual([{ host: 'r1', port: 7000 }]);
    expect(configError({ ...production, EMBEDDED_BROKER: 'true', REDIS_URL: 'redis://r:6379' }).message).toBe(
      'EMBEDDED_BROKER cannot be true together with REDIS_URL: choose one broker',
    );
    expect(loadConfig({}).redisUrl).toBeUndefined(); // development: the embedded broker, with a warning at start
  });

  it('reads a Redis Cluster as its nodes, IPv6 in brackets', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000, [::1]:7001' })).toMatchObject({
      redisUrl: undefined,
      redisClusterNodes: [
        { host: 'r1', port: 7000 },
        { host: '::1', port: 7001 },
      ],
    });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT', 'PORT must be an integer from 0 to 65535 (got "eighty")'],
    [{ PORT: '70000' }, 'PORT', 'PORT must be an integer from 0 to 65535'],
    [{ PORT: '80.5' }, 'PORT', 'must be an integer'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL', 'REDIS_URL must use redis:// or rediss://'],
    [
      { REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'r1:7000' },
      'REDIS_CLUSTER_NODES',
      'REDIS_CLUSTER_NODES cannot be set together with REDIS_URL',
    ],
    [{ REDIS_CLUSTER_NODES: 'r1:7000,r2' }, 'REDIS_CLUSTER_NODES', 'REDIS_CLUSTER_NODES must list the cluster\'s nodes as host:port,host:port (got "r2")'],
    [{ REDIS_CLUSTER_NODES: 'redis://r1:7000' }, 'REDIS_CLUSTER_NODES', 'must list the cluster\'s nodes as host:port'],
    [{ REDIS_CLUSTER_NODES: 'r1:0' }, 'REDIS_CLUSTER_NODES', 'must list the cluster\'s nodes as host:port'],
    [{ REDIS_CLUSTER_NODES: 'r1:7000,,r2:7001' }, 'REDIS_CLUSTER_NODES', 'must be a comma-separated list without empty items'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL', 'REDIS_URL must be a valid URL'],
    [{ REDIS_URL: 'redis://' }, 'REDIS_URL', 'REDIS_URL must include a host'],
    [{ REDIS_URL: 'rediss:///0' }, 'REDIS_URL', 'REDIS_URL must include a host'],
    [{ REDIS_URL: 'redis:localhost' }, 'REDIS_URL', 'REDIS_URL must include a host'],
    [{ CHANNEL_PREFIX: 'a{b}' }, 'CHANNEL_PREFIX', 'CHANNEL_PREFIX must be 1-64 characters'],
    [{ NODE_ID: 'has space' }, 'NODE_ID', 'NODE_ID must be 1-64 characters'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET', 'JWT_SECRET must be at least 32 bytes long (got 5)'],
    [{ JWT_PUBLIC_KEY: 'nope' }, 'JWT_PUBLIC_KEY', 'JWT_PUBLIC_KEY is not a PEM public key'],
    [{ JWT_JWKS_URL: 'http://auth.example.com/jwks' }, 'JWT_JWKS_URL', 'must use https://'],
    [{ JWT_JWKS_URL: 'ftp://x/jwks' }, 'JWT_JWKS_URL', 'JWT_JWKS_URL must use https:// or http://'],
    [{ JWT_AUDIENCE: 'a,,b' }, 'JWT_AUDIENCE', 'without empty items'],
    [{ HERALD_PUBLISH_KEY: 'short' }, 'HERALD_PUBLISH_KEY', 'at least 16 bytes'],
    [{ MAX_INBOUND_FRAME_BYTES: '10' }, 'MAX_INBOUND_FRAME_BYTES', 'from 64 to 1048576'],
    [{ WS_IDLE_TIMEOUT_SECONDS: '5' }, 'WS_IDLE_TIMEOUT_SECONDS', 'must be 0 (disabled) or from 8 to 960'],
    [{ WS_IDLE_TIMEOUT_SECONDS: '961' }, 'WS_IDLE_TIMEOUT_SECONDS', 'from 0 to 960'],
    [{ MAX_BUFFERED_BYTES: '100000' }, 'MAX_BUFFERED_BYTES', 'at least twice MAX_PUBLISH_BYTES (131072)'],
    [{ HISTORY_MAX_EVENTS: '0' }, 'HISTORY_MAX_EVENTS', 'from 1 to 1000000'],
    [{ PUBLIC_PROBES: 'yes' }, 'PUBLIC_PROBES', 'PUBLIC_PROBES must be true or false (got "yes")'],
    [{ PORT: '9000', ADMIN_PORT: '9000' }, 'ADMIN_PORT', 'must differ from PORT (both are 9000)'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ NODE_ENV: 'production' }, 'JWT_SECRET', 'JWT_SECRET is required when NODE_ENV is "production"'],
    [{ HISTORY_TTL_SECONDS: '700', HISTORY_POSITION_TTL_SECONDS: '600' }, 'HISTORY_POSITION_TTL_SECONDS', 'must be at least HISTORY_TTL_SECONDS (700)'],
    [{ JWT_SECRET: SECRET, JWT_JWKS_URL: 'https://a/jwks' }, 'JWT_JWKS_URL', 'cannot be combined with JWT_SECRET'],
  ])('rejects %p naming %s', (env, variable, message) => {
    const error = configError(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(message);
    expect(error.message.startsWith(variable)).toBe(true);
    expect(error.message).not.toContain('\n');
  });

  it('never echoes a Redis URL, which may hold a password', () => {
    expect(configError({ REDIS_URL: 'redis://:hunter2@' + 'x'.repeat(3) + ':notaport' }).message).not.toContain('hunter2');
    expect(configError({ REDIS_URL: 'redis:///0?password=hunter2' }).message).not.toContain('hunter2');
  });

  it('accepts a PEM public key, also with escaped newlines, and picks its algorithms', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    for (const value of [pem, pem.replace(/\n/g, '\\n')]) {
      const config = loadConfig({ JWT_PUBLIC_KEY: value });
      expect(config.auth.key).toMatchObject({ kind: 'public-key', publicKey: { algorithms: ['ES256'] } });
    }
  });

  it('refuses a private key given as JWT_PUBLIC_KEY', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(configError({ JWT_PUBLIC_KEY: pem }).message).toContain('holds a private key');
  });

  it('refuses RSA keys under 2048 bits', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(configError({ JWT_PUBLIC_KEY: pem }).message).toContain('at least 2048 are required');
  });

  it('allows a plain-http JWKS only on localhost', () => {
    expect(loadConfig({ JWT_JWKS_URL: 'http://localhost:9999/jwks' }).auth.key.kind).toBe('jwks');
  });

  it('documents every variable it reads', () => {
    for (const [name, variable] of Object.entries(CONFIG_VARIABLES)) {
      expect(variable.description.length).toBeGreaterThan(10);
      expect(name).toMatch(/^[A-Z][A-Z0-9_]+$/);
    }
  });
});
