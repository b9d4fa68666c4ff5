#!/usr/bin/env node
// A local Herald fleet: Redis, N gateway nodes and HAProxy in front (deploy/haproxy/haproxy.cfg).
//   npm run fleet -- [--nodes 3] [--port 8080]        (REDIS_URL set: use that Redis)
// Prints the URL, a development token and a publish command; Ctrl-C stops everything.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { freePort, haproxyConfig, nodeEnv } from './local-fleet.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: { nodes: { type: 'string', default: '3' }, port: { type: 'string', default: '8080' } },
});
const nodeCount = Number(values.nodes);
const lbPort = Number(values.port);
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 20) fail('--nodes must be an integer from 1 to 20');
if (!Number.isInteger(lbPort) || lbPort < 1 || lbPort > 65535) fail('--port must be a port number');

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

const children = [];
function start(name, command, args, env = {}) {
  // Own process groups: Ctrl-C in a terminal reaches only this script, which stops the gateways first.
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const prefix = (chunk) => chunk.toString().split('\n').filter(Boolean).map((line) => `[${name}] ${line}\n`).join('');
  child.stdout.on('data', (chunk) => process.stdout.write(prefix(chunk)));
  child.stderr.on('data', (chunk) => process.stderr.write(prefix(chunk)));
  child.on('exit', (code, signal) => {
    if (stopping) return;
    if (ready) {
      process.stderr.write(`fleet: ${name} exited (${signal ?? code})\n`);
      return;
    }
    process.stderr.write(`fleet: ${name} exited (${signal ?? code}) before the fleet was ready\n`);
    void stopAll(1);
  });
  children.push({ name, child });
  return child;
}

let ready = false;
let stopping = false;
async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nfleet: stopping\n');
  // Gateways drain first (SIGTERM), then the load balancer and Redis go.
  const order = [...children].sort((a, b) => Number(b.name.startsWith('gateway')) - Number(a.name.startsWith('gateway')));
  for (const { child } of order) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    });
  }
  process.stdout.write('fleet: stopped\n');
  process.exit(exitCode);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
// The children are not in the terminal's process group: closing the terminal must stop them too,
// and writing to the closed terminal must not interrupt that.
process.on('SIGHUP', () => void stopAll(0));
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

async function main() {
  requireBinary('haproxy', 'apt-get install -y haproxy');
  await assertPortFree(lbPort);
  mkdirSync(`${root}.fleet`, { recursive: true });

  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    requireBinary('redis-server', 'apt-get install -y redis-server (or set REDIS_URL)');
    const port = await freePort();
    start('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    redisUrl = `redis://127.0.0.1:${port}`;
  }

  const secret = randomBytes(32).toString('base64url');
  const publishKey = randomBytes(24).toString('base64url');
  const nodes = [];
  for (let i = 1; i <= nodeCount; i++) {
    const node = { id: `gateway-${i}`, port: await freePort(), adminPort: await freePort() };
    start(node.id, process.execPath, [`${root}gateway/dist/main.js`], {
      NODE_ENV: 'development',
      ...nodeEnv(node, { redisUrl, secret, publishKey, behindProxy: true }),
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
  const configPath = `${root}.fleet/haproxy.cfg`;
  writeFileSync(configPath, config);
  start('haproxy', 'haproxy', ['-f', configPath], { HERALD_LB_PORT: String(lbPort) });
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
  const lines = [
    '',
    `Herald fleet ready: ${nodeCount} gateway node(s) behind HAProxy, Redis at ${redisUrl}`,
    `  WebSocket (user "dev-user", 24 h): ws://127.0.0.1:${lbPort}/ws?token=${token}`,
    `  Publish: curl -X POST http://127.0.0.1:${lbPort}/v1/publish -H 'authorization: Bearer ${publishKey}' \\`,
    `    -d '{"user_id":"dev-user","type":"agent_started","run_id":"run-1","data":{}}'`,
    ...nodes.map((node) => `  ${node.id}: ws port ${node.port}, metrics http://127.0.0.1:${node.adminPort}/metrics`),
    '  Ctrl-C stops the fleet.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error) => {
  process.stderr.write(`fleet: ${error instanceof Error ? error.message : String(error)}\n`);
  void stopAll(1);
});
