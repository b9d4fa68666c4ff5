// The Redis Cluster of `npm run fleet -- --cluster`: redis-server nodes on free ports, formed into a
// cluster by `redis-cli --cluster create`. fleet.mjs starts and stops the processes; this file says
// how each node runs and how they become one cluster.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from './local-fleet.mjs';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/**
 * The version of the redis-server on PATH, as { major, minor, text }; undefined when it cannot be
 * run or does not say (`redis-server --version` prints "Redis server v=7.0.15 sha=...").
 */
export function redisServerVersion() {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return undefined;
  const match = /v=(\d+)\.(\d+)/.exec(probe.stdout);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), text: probe.stdout.trim() };
}

/**
 * `count` nodes' ports: { port, busPort } each, all distinct, free a moment ago and not among
 * `taken` (ports the caller holds for itself; the ones picked here are added to it). The cluster
 * bus port is set explicitly (cluster-port, Redis 7+) rather than left at port + 10000, which may be
 * taken or past 65535.
 */
export async function clusterPorts(count, taken = new Set()) {
  const pick = async () => {
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  const nodes = [];
  for (let i = 0; i < count; i++) nodes.push({ port: await pick(), busPort: await pick() });
  return nodes;
}

/** redis-server's arguments for one cluster node keeping its nodes.conf in `dir`; nothing is persisted. */
export function clusterNodeArgs({ port, busPort }, dir, nodeTimeoutMs) {
  return [
    ...['--port', String(port), '--cluster-port', String(busPort), '--bind', HOST, '--dir', dir],
    ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs)],
    ...['--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    // Replicas sync at once instead of waiting 5 s for more replicas to share the transfer.
    ...['--repl-diskless-sync-delay', '0'],
  ];
}

async function redisCli(port, ...args) {
  const { stdout } = await run('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeout: 5000 });
  return stdout;
}

/** Whether the node on `port` answers PING. */
export async function answers(port) {
  return (await redisCli(port, 'PING').catch(() => '')).trim() === 'PONG';
}

/** CLUSTER NODES of the node on `port`: { id, address, port, flags, masterId, slots } per node. */
async function clusterNodes(port) {
  const lines = (await redisCli(port, 'CLUSTER', 'NODES')).trim().split('\n');
  return lines.map((line) => {
    const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(' ');
    const hostPort = address.split('@')[0];
    return { id, address: hostPort, port: Number(hostPort.split(':').pop()), flags: flags.split(','), masterId, slots };
  });
}

/** Whether one node's view shows the whole cluster formed: `masters` masters with slots, every other node a replica of one. */
function formed(view, total, masters) {
  if (view.length !== total || view.some((node) => node.flags.some((flag) => ['handshake', 'noaddr', 'fail', 'fail?'].includes(flag)))) return false;
  const masterIds = new Set(view.filter((node) => node.flags.includes('master') && node.slots.length > 0).map((node) => node.id));
  const replicas = view.filter((node) => node.flags.includes('slave') && masterIds.has(node.masterId));
  return masterIds.size === masters && replicas.length === total - masters;
}

/**
 * Makes one cluster of the running nodes: the first `masters` take the slots, the others become
 * their replicas. Resolves once every node reports cluster_state:ok and describes the whole cluster
 * (every master and which master each replica follows: right after the create, some nodes still
 * take replicas for empty masters).
 */
export async function formCluster(nodes, { masters, timeoutMs = 20_000 }) {
  const addresses = nodes.map(({ port }) => `${HOST}:${port}`);
  const replicas = nodes.length / masters - 1;
  try {
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: timeoutMs });
  } catch (error) {
    throw new Error(`redis-cli --cluster create failed: ${error.stdout || error.stderr || error.message}`);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await Promise.all(
      nodes.map(async ({ port }) => {
        const info = await redisCli(port, 'CLUSTER', 'INFO');
        return /^cluster_state:ok\r?$/m.test(info) && formed(await clusterNodes(port), nodes.length, masters);
      }),
    ).catch(() => []);
    if (ready.length === nodes.length && ready.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error('timed out waiting for every Redis Cluster node to report cluster_state:ok and the whole cluster');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The cluster as one node describes it, one line per node in port order:
 * "127.0.0.1:7001 master 0-5460" or "127.0.0.1:7004 replica of 127.0.0.1:7002".
 */
export async function describeCluster(port) {
  const nodes = await clusterNodes(port);
  const addressOf = new Map(nodes.map((node) => [node.id, node.address]));
  return nodes
    .sort((a, b) => a.port - b.port)
    .map((node) =>
      node.flags.includes('master') ? `${node.address} master ${node.slots.join(' ')}` : `${node.address} replica of ${addressOf.get(node.masterId)}`,
    );
}
