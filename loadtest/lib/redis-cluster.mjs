// A throwaway Redis Cluster for benchmarks: `masters` masters splitting the 16 384 slots (one master
// owns them all when masters is 1) and `replicas` replicas per master, one redis-server each, no
// persistence. The same steps as test/support/redis-cluster.ts (the jest harness, TypeScript),
// without its failover and migration helpers.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit } from './children.mjs';
import { freePort, until } from './ports.mjs';
import { connectRedis } from './redis-server.mjs';

const SLOTS = 16_384;
const HOST = '127.0.0.1';

/** `key:value` lines (INFO, CLUSTER INFO) as an object of strings. */
export function parseInfo(text) {
  const fields = {};
  for (const line of String(text).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}

async function distinctFreePort(taken) {
  for (;;) {
    const port = await freePort();
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

/**
 * Starts the cluster's processes as `children` and resolves once every node reports
 * cluster_state:ok and every replica is in sync: { masters, replicas, nodes, startupNodes }, where
 * each node is { name, port, role, redis } (redis: a plain connection to that node, no
 * redirections followed; closed by close()).
 */
export async function startRedisCluster(children, { masters = 3, replicas = 0 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-cluster-'));
  atExit(() => rmSync(dir, { recursive: true, force: true }));
  const taken = new Set();
  const nodes = [];
  for (let i = 0; i < masters * (1 + replicas); i++) {
    const port = await distinctFreePort(taken);
    // The bus port is a free port of its own (cluster-port, Redis 7): port + 10 000 may be taken or past 65 535.
    const busPort = await distinctFreePort(taken);
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir);
    const role = i < masters ? 'master' : 'replica';
    const name = role === 'master' ? `redis-master-${i + 1}` : `redis-replica-${i - masters + 1}`;
    children.spawn(`${name} :${port}`, 'redis-server', [
      ...['--port', String(port), '--bind', HOST, '--dir', nodeDir, '--save', '', '--appendonly', 'no'],
      ...['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', 'nodes.conf'],
      // A node learns its own address from a peer's MEET: alone (a 1-shard cluster), it would name itself
      // "" in CLUSTER SLOTS, which ioredis cannot connect to (the gateway never gets ready).
      ...['--cluster-announce-ip', HOST],
      ...['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'],
    ], { PATH: process.env.PATH });
    nodes.push({ name, port, busPort, role });
  }
  for (const node of nodes) node.redis = await connectRedis(`redis://${HOST}:${node.port}`);
  const masterNodes = nodes.filter((node) => node.role === 'master');
  const replicaNodes = nodes.filter((node) => node.role === 'replica');

  // Slots split as redis-cli --cluster create does; distinct epochs spare the cluster a collision to settle.
  let first = 0;
  for (const [i, master] of masterNodes.entries()) {
    const last = i === masters - 1 ? SLOTS - 1 : Math.round((SLOTS / masters) * (i + 1)) - 1;
    await master.redis.call('CLUSTER', 'ADDSLOTSRANGE', first, last);
    master.slots = [first, last];
    first = last + 1;
  }
  for (const [i, node] of nodes.entries()) await node.redis.call('CLUSTER', 'SET-CONFIG-EPOCH', i + 1);
  for (const node of nodes.slice(1)) await nodes[0].redis.call('CLUSTER', 'MEET', HOST, node.port, node.busPort);
  const knowsAll = async (node) => {
    const lines = String(await node.redis.call('CLUSTER', 'NODES')).trim().split('\n');
    return lines.length === nodes.length && lines.every((line) => !/handshake|noaddr/.test(line));
  };
  await until('every cluster node to know all the others', async () => (await Promise.all(nodes.map(knowsAll))).every(Boolean), 20_000);

  // Replica j follows master j % masters.
  const ids = await Promise.all(masterNodes.map((master) => master.redis.call('CLUSTER', 'MYID')));
  for (const [j, replica] of replicaNodes.entries()) {
    replica.master = masterNodes[j % masters];
    await replica.redis.call('CLUSTER', 'REPLICATE', ids[j % masters]);
  }
  await until(
    'cluster_state:ok on every node and every replica in sync',
    async () => {
      const states = await Promise.all(nodes.map(async (node) => parseInfo(await node.redis.call('CLUSTER', 'INFO'))));
      if (!states.every((info) => info.cluster_state === 'ok')) return false;
      const replication = await Promise.all(replicaNodes.map(async (node) => parseInfo(await node.redis.info('replication'))));
      if (!replication.every((info) => info.master_link_status === 'up' && info.master_sync_in_progress === '0')) return false;
      // Every node sees every replica as one (gossip spreads the news within a few pings).
      const views = await Promise.all(nodes.map(async (node) => String(await node.redis.call('CLUSTER', 'NODES'))));
      return views.every((view) => (view.match(/ (?:myself,)?slave /g) ?? []).length === replicaNodes.length);
    },
    30_000,
  );
  return {
    nodes,
    masters: masterNodes,
    replicas: replicaNodes,
    startupNodes: nodes.map((node) => `${HOST}:${node.port}`),
    close: () => nodes.forEach((node) => node.redis.disconnect()),
  };
}
