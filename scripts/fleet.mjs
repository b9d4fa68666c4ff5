#!/usr/bin/env node
// A local Herald fleet: Redis, N gateway nodes and HAProxy in front (deploy/haproxy/haproxy.cfg).
//   npm run fleet -- [--nodes 3] [--port 8080]        (REDIS_URL set: use that Redis)
//   npm run fleet -- --cluster [...]                  (a Redis Cluster of 3 masters + 3 replicas)
// Prints the URL, a development token and a publish command; Ctrl-C stops everything.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { freePort, haproxyConfig, nodeEnv } from './local-fleet.mjs';
import { answers, clusterNodeArgs, clusterPorts, describeCluster, formCluster, redisServerVersion } from './redis-cluster.mjs';
import { stopInOrder } from './stop-order.mjs';

const CLUSTER_MASTERS = 3;
const CLUSTER_REPLICAS_PER_MASTER = 1;
/** A failed master is replaced after about this long (and a bit more). */
const CLUSTER_NODE_TIMEOUT_MS = 2000;
/** A process that has not exited this long after SIGTERM gets SIGKILL (a node drains within 5 s). */
const STOP_TIMEOUT_MS = 10_000;

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    port: { type: 'string', default: '8080' },
    cluster: { type: 'boolean', default: false },
  },
});
const nodeCount = Number(values.nodes);
const lbPort = Number(values.port);
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 20) fail('--nodes must be an integer from 1 to 20');
if (!Number.isInteger(lbPort) || lbPort < 1 || lbPort > 65535) fail('--port must be a port number');
if (values.cluster && process.env.REDIS_URL) {
  fail('--cluster starts its own Redis Cluster and cannot use REDIS_URL: unset REDIS_URL, or drop --cluster to use that Redis');
}

function fail(message) {
  process.stderr.write(`fleet: ${message}\n`);
  process.exit(1);
}

function requireBinary(name, hint) {
  const probe = spawnSync(name, ['-v'], { encoding: 'utf8' });
  if (probe.error) fail(`${name} is not installed: ${hint}`);
}

/** Fails unless `port` can be bound on every IPv4 address, as HAProxy's `bind *:port` does. */
function assertPortFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error) => {
      const reason = error.code === 'EADDRINUSE' ? 'is in use by another process' : `cannot be listened on (${error.code ?? error.message})`;
      fail(`--port ${port} ${reason}: stop it or pick another port with --port`);
    });
    server.listen(port, '0.0.0.0', () => server.close(() => resolve()));
  });
}

async function waitFor(what, check, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Stops what this fleet started should this script die without stopping it (scripts/fleet-watchdog.mjs).
 * Started before anything else, in a process group of its own.
 */
const watchdog = spawn(process.execPath, [fileURLToPath(new URL('fleet-watchdog.mjs', import.meta.url))], {
  stdio: ['pipe', 'ignore', 'inherit'],
  detached: true,
});
watchdog.stdin.on('error', () => {});
function tellWatchdog(message) {
  watchdog.stdin.write(`${JSON.stringify(message)}\n`);
}

/** { name, role: 'gateway' | 'haproxy' | 'redis', child }, in start order. */
const children = [];
/** Removed once every child has exited. */
const directories = [];
function temporaryDirectory(prefix) {
  const directory = mkdtempSync(join(tmpdir(), prefix));
  directories.push(directory);
  tellWatchdog({ directory });
  return directory;
}

/**
 * Starts a child and shows what it writes, prefixed with its name. `quiet`: keeps what it writes
 * and shows it only if it exits by itself (the Redis Cluster nodes' start-up notes times six).
 */
function start(name, role, command, args, env = {}, { quiet = false } = {}) {
  // Own process groups: Ctrl-C in a terminal reaches only this script, which stops the gateways first.
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid !== undefined) tellWatchdog({ pid: child.pid, name, role });
  const prefix = (chunk) => chunk.toString().split('\n').filter(Boolean).map((line) => `[${name}] ${line}\n`).join('');
  let kept = '';
  const show = (stream) => (chunk) => (quiet ? (kept = (kept + prefix(chunk)).slice(-4000)) : stream.write(prefix(chunk)));
  child.stdout.on('data', show(process.stdout));
  child.stderr.on('data', show(process.stderr));
  child.on('exit', (code, signal) => {
    if (child.pid !== undefined) tellWatchdog({ exited: child.pid });
    if (stopping) return;
    process.stderr.write(kept);
    if (ready) {
      process.stderr.write(`fleet: ${name} exited (${signal ?? code})\n`);
      return;
    }
    process.stderr.write(`fleet: ${name} exited (${signal ?? code}) before the fleet was ready\n`);
    void stopAll(1);
  });
  children.push({ name, role, child });
  return child;
}

/** SIGTERM, then SIGKILL if it is still there after STOP_TIMEOUT_MS; resolves once it has exited. */
function stopChild({ name, child }) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      process.stdout.write(`fleet: ${name} stopped (${signal ?? code})\n`);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

let ready = false;
let stopping = false;
async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nfleet: stopping\n');
  await stopInOrder(children, stopChild);
  for (const directory of directories) {
    rmSync(directory, { recursive: true, force: true });
    tellWatchdog({ removed: directory });
  }
  process.stdout.write('fleet: stopped\n');
  process.exit(exitCode);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
// The children are not in the terminal's process group: closing the terminal must stop them too,
// and writing to the closed terminal must not interrupt that.
process.on('SIGHUP', () => void stopAll(0));
// Run by npm's launcher: its IPC channel closes when the launcher dies, even of SIGKILL.
if (process.channel) process.once('disconnect', () => void stopAll(0));
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

// Ports this fleet has handed out (HAProxy's first): a port just released by freePort() may be
// handed out again, and two of the fleet's processes must never be given the same one.
const reservedPorts = new Set([lbPort]);

async function reservePort() {
  for (;;) {
    const port = await freePort();
    if (!reservedPorts.has(port)) {
      reservedPorts.add(port);
      return port;
    }
  }
}

async function main() {
  requireBinary('haproxy', 'apt-get install -y haproxy');
  await assertPortFree(lbPort);
  let redisUrl = process.env.REDIS_URL;
  if (values.cluster) requireClusterBinaries();
  else if (!redisUrl) requireBinary('redis-server', 'apt-get install -y redis-server (or set REDIS_URL)');
  const fleetDirectory = temporaryDirectory('herald-fleet-');

  let cluster;
  if (values.cluster) {
    redisUrl = undefined;
    cluster = await startCluster(join(fleetDirectory, 'redis-cluster'));
    if (stopping) return;
  } else if (!redisUrl) {
    const port = await reservePort();
    start('redis', 'redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    redisUrl = `redis://127.0.0.1:${port}`;
  }

  const secret = randomBytes(32).toString('base64url');
  const publishKey = randomBytes(24).toString('base64url');
  const nodes = [];
  for (let i = 1; i <= nodeCount; i++) {
    const node = { id: `gateway-${i}`, port: await reservePort(), adminPort: await reservePort() };
    start(node.id, 'gateway', process.execPath, [`${root}gateway/dist/main.js`], {
      NODE_ENV: 'development',
      ...nodeEnv(node, { redisUrl, clusterNodes: cluster?.addresses, secret, publishKey, behindProxy: true }),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    });
    nodes.push(node);
  }
  for (const node of nodes) {
    await waitFor(`${node.id} to be ready`, async () => (await fetch(`http://127.0.0.1:${node.adminPort}/readyz`)).ok);
  }

  // Marks this HAProxy's answers, so another process on the port is never taken for it.
  const fleetId = randomBytes(8).toString('hex');
  const config = haproxyConfig(nodes, fleetId);
  const configPath = join(fleetDirectory, 'haproxy.cfg');
  writeFileSync(configPath, config);
  start('haproxy', 'haproxy', 'haproxy', ['-f', configPath], { HERALD_LB_PORT: String(lbPort) });
  await waitFor('HAProxy to route to a ready node', async () => {
    const response = await fetch(`http://127.0.0.1:${lbPort}/ws`);
    return response.status === 426 && response.headers.get('x-herald-fleet') === fleetId;
  });
  if (stopping) return;
  ready = true;

  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('dev-user')
    .setExpirationTime('24h')
    .sign(new TextEncoder().encode(secret));
  const redis = cluster
    ? `a Redis Cluster of ${CLUSTER_MASTERS} masters + ${CLUSTER_MASTERS * CLUSTER_REPLICAS_PER_MASTER} replicas`
    : `Redis at ${redisUrl}`;
  const lines = [
    '',
    `Herald fleet ready: ${nodeCount} gateway node(s) behind HAProxy, ${redis}`,
    `  Demo page (live agent runs of "dev-user"): http://127.0.0.1:${lbPort}/`,
    `  WebSocket (user "dev-user", 24 h): ws://127.0.0.1:${lbPort}/ws?token=${token}`,
    `  Publish: curl -X POST http://127.0.0.1:${lbPort}/v1/publish -H 'authorization: Bearer ${publishKey}' \\`,
    `    -d '{"user_id":"dev-user","type":"agent_started","run_id":"run-1","data":{}}'`,
    ...nodes.map((node) => `  ${node.id}: ws port ${node.port}, metrics http://127.0.0.1:${node.adminPort}/metrics`),
    ...(cluster
      ? [
          `  Redis Cluster nodes (REDIS_CLUSTER_NODES=${cluster.addresses.join(',')}), data in ${cluster.dir}:`,
          ...cluster.description.map((line) => `    ${line}`),
        ]
      : []),
    '  Ctrl-C stops the fleet.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function requireClusterBinaries() {
  const version = redisServerVersion();
  if (!version) fail('redis-server is not installed (or did not say its version): apt-get install -y redis-server (7.0 or later)');
  if (version.major < 7) {
    fail(`--cluster needs redis-server 7.0 or later (sharded pub/sub, which Herald uses on a cluster); this one is ${version.major}.${version.minor}`);
  }
  requireBinary('redis-cli', 'apt-get install -y redis-tools');
}

/** Starts the Redis Cluster's nodes and forms the cluster, with their data in `dir` (which goes when the fleet stops). */
async function startCluster(dir) {
  mkdirSync(dir);
  const ports = await clusterPorts(CLUSTER_MASTERS * (1 + CLUSTER_REPLICAS_PER_MASTER), reservedPorts);
  for (const node of ports) {
    const nodeDir = join(dir, String(node.port));
    mkdirSync(nodeDir);
    start(`redis-${node.port}`, 'redis', 'redis-server', clusterNodeArgs(node, nodeDir, CLUSTER_NODE_TIMEOUT_MS), {}, { quiet: true });
  }
  for (const { port } of ports) await waitFor(`the Redis Cluster node on port ${port} to answer`, () => answers(port));
  if (stopping) return undefined;
  await formCluster(ports, { masters: CLUSTER_MASTERS });
  const addresses = ports.map(({ port }) => `127.0.0.1:${port}`);
  return { addresses, dir, description: await describeCluster(ports[0].port) };
}

main().catch((error) => {
  process.stderr.write(`fleet: ${error instanceof Error ? error.message : String(error)}\n`);
  void stopAll(1);
});
