// The command line: `npm run loadtest -- <scenario> [options]`. Every option is checked; a bad one
// stops the tool with a message that names it.
import { parseArgs } from 'node:util';
import { SYSTEMS } from '../systems/index.mjs';

export const SCENARIOS = {
  steady: 'a fixed publish rate for --duration seconds',
  ramp: 'raises the rate by --step every --step-seconds until under 99.9% arrive within 100 ms (or --max-rate)',
  burst: '--burst events published at once, --bursts times, --duration/--bursts seconds apart',
  'connect-storm': 'the idle sockets all connect at once while the active users receive --rate events/s',
  'reconnect-storm': 'a node is stopped (--kill: SIGKILL, else SIGTERM: it drains) mid-run; its sockets resume elsewhere',
  soak: 'steady load for --duration seconds; memory and latency must stay flat',
};

const NUMBER_OPTIONS = {
  users: { default: 2000, min: 1, help: 'users receiving events (one or more sockets each)' },
  'sockets-per-user': { default: 1, min: 1, help: 'sockets per active user' },
  idle: { default: 0, min: 0, help: 'extra authenticated sockets of users that receive nothing' },
  rate: { default: 5000, min: 1, help: 'events per second (all publishers together)' },
  duration: { default: 8, min: 1, help: 'seconds of publishing (measured part)' },
  warmup: { default: 2, min: 0, help: 'seconds of publishing before measuring (verified, not measured)' },
  payload: { default: 200, min: 64, help: 'bytes of event data' },
  publishers: { default: 1, min: 1, help: 'publisher processes' },
  clients: { default: 4, min: 1, help: 'client processes' },
  nodes: { default: 1, min: 1, help: 'gateway nodes started (clients spread over them)' },
  fleet: { default: 0, min: 0, help: 'start Redis + N nodes + HAProxy; clients connect through HAProxy' },
  'redis-cluster': { default: 0, min: 0, help: 'Herald on a Redis Cluster of N masters (no replicas) started for the run, instead of one Redis' },
  'connect-concurrency': { default: 200, min: 1, help: 'connections each client process opens at a time' },
  step: { default: 5000, min: 1, help: 'ramp: rate increase per step' },
  'step-seconds': { default: 4, min: 1, help: 'ramp: seconds per step' },
  'max-rate': { default: 200000, min: 1, help: 'ramp: highest rate tried' },
  burst: { default: 10000, min: 1, help: 'burst: events per burst' },
  bursts: { default: 4, min: 1, help: 'burst: number of bursts' },
};

const STRING_OPTIONS = {
  system: { default: 'herald', help: `system under test: ${SYSTEMS.join(', ')}` },
  path: { default: 'sdk', help: 'how Herald is published to: sdk or http' },
  url: { default: '', help: 'target a running Herald fleet at this ws:// URL instead of starting one' },
  'redis-url': { default: '', help: 'with --url: the fleet\'s Redis (publishing, Redis figures)' },
  secret: { default: '', help: 'with --url: the fleet\'s JWT_SECRET (or HERALD_LOADTEST_SECRET)' },
  'publish-key': { default: '', help: 'with --url and --path http: HERALD_PUBLISH_KEY' },
  metrics: { default: '', help: 'with --url: comma-separated /metrics URLs of the nodes (gateway figures)' },
  herald: { default: '', help: 'another Herald checkout whose gateway and SDK builds to run (to compare versions)' },
  out: { default: 'loadtest/reports', help: 'where the JSON, Markdown and HTML reports go' },
  name: { default: '', help: 'report file name (default <scenario>-<system>-<time>)' },
};

const BOOLEAN_OPTIONS = {
  'cpu-prof': { help: 'write V8 CPU profiles of the system\'s server processes to <out>/profiles' },
  kill: { help: 'reconnect-storm: SIGKILL the node instead of draining it' },
  help: { help: 'this text' },
};

export function usage() {
  const lines = ['usage: npm run loadtest -- <scenario> [options]', '', 'scenarios:'];
  for (const [name, text] of Object.entries(SCENARIOS)) lines.push(`  ${name.padEnd(16)} ${text}`);
  lines.push('', 'options:');
  for (const [name, spec] of Object.entries(NUMBER_OPTIONS)) lines.push(`  --${name.padEnd(20)} ${spec.help} (default ${spec.default})`);
  for (const [name, spec] of Object.entries(STRING_OPTIONS)) lines.push(`  --${name.padEnd(20)} ${spec.help}${spec.default ? ` (default ${spec.default})` : ''}`);
  for (const [name, spec] of Object.entries(BOOLEAN_OPTIONS)) lines.push(`  --${name.padEnd(20)} ${spec.help}`);
  return lines.join('\n');
}

export class UsageError extends Error {}

function camel(name) {
  return name.replace(/-([a-z])/g, (_, letter) => letter.toUpperCase());
}

/** Parses argv into { scenario, ...options }; throws UsageError with a clear message. */
export function parseOptions(argv) {
  const options = {};
  for (const name of Object.keys(NUMBER_OPTIONS)) options[name] = { type: 'string' };
  for (const name of Object.keys(STRING_OPTIONS)) options[name] = { type: 'string' };
  for (const name of Object.keys(BOOLEAN_OPTIONS)) options[name] = { type: 'boolean' };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error.message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length !== 1 || !(positionals[0] in SCENARIOS)) {
    throw new UsageError(`name one scenario: ${Object.keys(SCENARIOS).join(', ')}${positionals.length ? ` (got ${positionals.join(' ')})` : ''}`);
  }
  const result = { scenario: positionals[0] };
  for (const [name, spec] of Object.entries(NUMBER_OPTIONS)) {
    const raw = values[name];
    if (raw !== undefined && !/^\d+$/.test(raw)) throw new UsageError(`--${name} must be a whole number ≥ ${spec.min} (got ${raw})`);
    const value = raw === undefined ? spec.default : Number(raw);
    if (!Number.isSafeInteger(value) || value < spec.min) throw new UsageError(`--${name} must be a whole number ≥ ${spec.min} (got ${raw})`);
    result[camel(name)] = value;
  }
  // An option that the scenario or the target would ignore is an error, not a silent no-op.
  const given = (name) => values[name] !== undefined;
  const onlyWith = (names, condition, what) => {
    for (const name of names) if (given(name) && !condition) throw new UsageError(`--${name} applies only ${what}`);
  };
  onlyWith(['kill'], result.scenario === 'reconnect-storm', 'to reconnect-storm');
  onlyWith(['step', 'step-seconds', 'max-rate'], result.scenario === 'ramp', 'to ramp');
  onlyWith(['burst', 'bursts'], result.scenario === 'burst', 'to burst');
  onlyWith(['duration'], result.scenario !== 'ramp', 'to scenarios with a fixed duration (ramp runs --step-seconds per step)');
  onlyWith(['redis-url', 'secret', 'publish-key', 'metrics'], given('url'), 'with --url (a fleet the tool starts has its own)');
  if (given('nodes') && given('fleet')) throw new UsageError('--nodes and --fleet are exclusive: --fleet N starts N nodes behind HAProxy');
  for (const [name, spec] of Object.entries(STRING_OPTIONS)) result[camel(name)] = values[name] ?? spec.default;
  for (const name of Object.keys(BOOLEAN_OPTIONS)) result[camel(name)] = values[name] === true;
  if (!SYSTEMS.includes(result.system)) throw new UsageError(`--system must be one of ${SYSTEMS.join(', ')}`);
  if (result.herald && result.system !== 'herald') throw new UsageError('--herald runs another Herald build: it needs --system herald');
  if (!['sdk', 'http'].includes(result.path)) throw new UsageError('--path must be sdk or http');
  if (result.path === 'http' && result.system !== 'herald') throw new UsageError('--path http is Herald\'s HTTP API; peers publish their own way');
  if (result.url) {
    if (!/^wss?:\/\//.test(result.url)) throw new UsageError(`--url must be a ws:// or wss:// URL of a Herald fleet (got ${result.url})`);
    if (result.redisUrl && !/^rediss?:\/\//.test(result.redisUrl)) throw new UsageError(`--redis-url must be a redis:// URL (got ${result.redisUrl})`);
    if (result.system !== 'herald') throw new UsageError('--url targets a running Herald fleet: drop --system');
    if (result.fleet > 0) throw new UsageError('--url and --fleet are exclusive: target a running fleet or start one');
    result.secret ||= process.env.HERALD_LOADTEST_SECRET ?? '';
    if (!result.secret) throw new UsageError('--url needs --secret (the fleet\'s JWT_SECRET, to sign tokens) or HERALD_LOADTEST_SECRET');
    if (result.path === 'sdk' && !result.redisUrl) throw new UsageError('--url with --path sdk needs --redis-url');
    if (result.path === 'http' && !result.publishKey) throw new UsageError('--url with --path http needs --publish-key');
  }
  if (result.redisCluster > 0) {
    if (result.system !== 'herald') throw new UsageError('--redis-cluster runs Herald on a Redis Cluster: peers use one Redis');
    if (result.url) throw new UsageError('--redis-cluster starts a cluster for the run: it cannot be given with --url');
  }
  if (result.fleet > 0 && result.system !== 'herald') throw new UsageError('--fleet starts a Herald fleet; peers take --nodes');
  if (result.scenario === 'reconnect-storm') {
    const nodes = result.fleet || result.nodes;
    if (!result.url && nodes < 2) throw new UsageError('reconnect-storm stops a node: give --nodes 2 or more (or --fleet 2 or more)');
  }
  if (result.scenario === 'connect-storm' && result.idle === 0) throw new UsageError('connect-storm connects the --idle sockets at once: give --idle');
  return result;
}
