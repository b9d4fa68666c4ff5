#!/usr/bin/env node
// Fan-in cost in Redis Cluster: which nodes an event touches. Starts a throwaway cluster (--masters
// masters with --replicas replicas each), publishes the same --events events to --users users
// three ways, one after the other, and reads every node's counters before and after each:
//  - Herald's SDK in cluster mode (createPublisher({ cluster })): the publish script per slot, SPUBLISH;
//  - bare SPUBLISH through an ioredis Cluster client (sharded pub/sub alone, no script);
//  - bare PUBLISH through the same client (classic pub/sub, which a cluster broadcasts to every node).
// Counters: INFO commandstats (evalsha/eval, spublish, publish calls), CLUSTER INFO (bus messages
// `publish` and `publishshard`, sent and received), INFO cpu and INFO stats (bytes written).
// No subscribers: Redis 7 sends a PUBLISH to every node whether anyone listens or not.
//   npm run build && node loadtest/cluster-fanin.mjs [--events 20000] [--users 2000] [--payload 200]
//     [--masters 3] [--replicas 1] [--window 500]
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Children } from './lib/children.mjs';
import { parseInfo, startRedisCluster } from './lib/redis-cluster.mjs';

const { Cluster } = createRequire(import.meta.url)('ioredis');
const SDK = pathToFileURL(fileURLToPath(new URL('../publisher-sdk/dist/esm/index.js', import.meta.url))).href;
const STORAGE = pathToFileURL(fileURLToPath(new URL('../publisher-sdk/dist/esm/storage/index.js', import.meta.url))).href;

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    users: { type: 'string', default: '2000' },
    payload: { type: 'string', default: '200' },
    masters: { type: 'string', default: '3' },
    replicas: { type: 'string', default: '1' },
    window: { type: 'string', default: '500' },
  },
});
const settings = Object.fromEntries(Object.entries(values).map(([name, value]) => [name, Number(value)]));
for (const [name, value] of Object.entries(settings)) {
  if (!Number.isInteger(value) || value < (name === 'replicas' ? 0 : 1)) {
    process.stderr.write(`cluster-fanin: --${name} must be a whole number${name === 'replicas' ? '' : ' ≥ 1'} (got ${values[name]})\n`);
    process.exit(2);
  }
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** What one node has counted so far. */
async function countersOf(node) {
  const [commandstats, stats, cpu, cluster] = await Promise.all([
    node.redis.info('commandstats'),
    node.redis.info('stats'),
    node.redis.info('cpu'),
    node.redis.call('CLUSTER', 'INFO'),
  ]);
  const calls = (name) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(commandstats)?.[1] ?? 0);
  const s = parseInfo(stats);
  const c = parseInfo(cpu);
  const bus = parseInfo(cluster);
  const busCount = (name) => Number(bus[`cluster_stats_messages_${name}`] ?? 0);
  return {
    scripts: calls('evalsha') + calls('eval'),
    spublish: calls('spublish'),
    publish: calls('publish'),
    busPublishSent: busCount('publish_sent'),
    busPublishReceived: busCount('publish_received'),
    busShardSent: busCount('publishshard_sent'),
    busShardReceived: busCount('publishshard_received'),
    outputBytes: Number(s.total_net_output_bytes ?? 0),
    cpuMs: (Number(c.used_cpu_sys) + Number(c.used_cpu_user)) * 1000,
  };
}

const snapshot = (cluster) => Promise.all(cluster.nodes.map(countersOf));

/** Publishes every event with `publish(user, data)`, `window` at a time; resolves with how many failed. */
async function publishAll(publish) {
  const users = Array.from({ length: settings.users }, (_, i) => `user-${i}`);
  const pad = 'x'.repeat(Math.max(0, settings.payload - 40));
  let next = 0;
  let failed = 0;
  const lane = async () => {
    while (next < settings.events) {
      const k = next++;
      // The same users in the same order for every way of publishing.
      const user = users[(k * 7919) % users.length];
      await publish(user, { u: user, k, pad }).catch(() => (failed += 1));
    }
  };
  await Promise.all(Array.from({ length: settings.window }, lane));
  return failed;
}

async function measure(cluster, label, setup) {
  const { publish, close } = await setup();
  // Warm-up on users of every slot range: scripts loaded on every master, connections made, slot table read.
  await Promise.all(Array.from({ length: 200 }, (_, i) => publish(`warm-up-${i}`, { warm: true })));
  await sleep(300);
  const before = await snapshot(cluster);
  const failed = await publishAll(publish);
  await sleep(500); // bus messages go out asynchronously
  const after = await snapshot(cluster);
  await close();
  const perNode = after.map((counters, i) => Object.fromEntries(Object.entries(counters).map(([name, value]) => [name, value - before[i][name]])));
  process.stderr.write(`cluster-fanin: ${label}: ${settings.events} events, ${failed} failed\n`);
  return { label, failed, perNode };
}

async function main() {
  const children = new Children();
  process.stderr.write(`cluster-fanin: starting a cluster of ${settings.masters} masters with ${settings.replicas} replica(s) each\n`);
  const cluster = await startRedisCluster(children, { masters: settings.masters, replicas: settings.replicas });
  const { storageLayout } = await import(STORAGE);
  const layout = storageLayout();
  const clusterClient = async () => {
    const client = new Cluster(cluster.startupNodes, { enableAutoPipelining: true });
    await client.ping();
    return client;
  };
  const runs = [
    await measure(cluster, 'Herald SDK (script + SPUBLISH)', async () => {
      const { createPublisher } = await import(SDK);
      const publisher = createPublisher({ cluster: cluster.startupNodes });
      return { publish: (user, data) => publisher.publish(user, 'agent_thinking', data), close: () => publisher.close() };
    }),
    await measure(cluster, 'bare SPUBLISH', async () => {
      const client = await clusterClient();
      return { publish: (user, data) => client.spublish(layout.userEvents(user), JSON.stringify(data)), close: () => client.quit() };
    }),
    await measure(cluster, 'bare PUBLISH', async () => {
      const client = await clusterClient();
      return { publish: (user, data) => client.publish(layout.userEvents(user), JSON.stringify(data)), close: () => client.quit() };
    }),
  ];
  cluster.close();
  await children.stopAll();
  print(cluster, runs);
}

function print(cluster, [sdk, sharded, classic]) {
  const n = settings.events;
  const fmt = (value) => (Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(1));
  const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(1)}x` : a > 0 ? '∞' : '–');
  const bus = (c, kind) => (kind === 'shard' ? c.busShardSent + c.busShardReceived : c.busPublishSent + c.busPublishReceived);
  const busPair = (c, kind) => (kind === 'shard' ? `${fmt(c.busShardSent)} / ${fmt(c.busShardReceived)}` : `${fmt(c.busPublishSent)} / ${fmt(c.busPublishReceived)}`);
  const nodeName = (node) => (node.role === 'master' ? `${node.name} (slots ${node.slots[0]}-${node.slots[1]})` : `${node.name} (of ${node.master.name})`);
  const sum = (run, field) => run.perNode.reduce((total, c) => total + (typeof field === 'function' ? field(c) : c[field]), 0);
  const total = (run) => Object.fromEntries(Object.keys(run.perNode[0]).map((field) => [field, sum(run, field)]));
  const rows = cluster.nodes.map((node, i) => [nodeName(node), sdk.perNode[i], sharded.perNode[i], classic.perNode[i]]);
  rows.push(['**all nodes**', total(sdk), total(sharded), total(classic)]);
  const lines = [
    `Fan-in: ${fmt(n)} events to ${fmt(settings.users)} users (~${settings.payload} B), ${settings.window} in flight, a cluster of ${settings.masters} masters + ${settings.replicas} replica(s) each, no subscribers.`,
    'Bus messages: sent / received over the cluster bus (`publishshard` for SPUBLISH, `publish` for PUBLISH).',
    '',
    '| node | SDK: script calls | SDK: SPUBLISH | SDK: bus msgs | bare SPUBLISH | bare SPUBLISH: bus msgs | bare PUBLISH | bare PUBLISH: bus msgs | bus msgs PUBLISH ÷ SPUBLISH |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(([name, a, b, c]) =>
      `| ${name} | ${fmt(a.scripts)} | ${fmt(a.spublish)} | ${busPair(a, 'shard')} | ${fmt(b.spublish)} | ${busPair(b, 'shard')} | ${fmt(c.publish)} | ${busPair(c, 'classic')} | ${ratio(bus(c, 'classic'), bus(b, 'shard'))} |`,
    ),
    '',
    '| node | SDK: CPU ms | bare SPUBLISH: CPU ms | bare PUBLISH: CPU ms | CPU PUBLISH ÷ SPUBLISH | SDK: bytes out | bare SPUBLISH: bytes out | bare PUBLISH: bytes out |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(([name, a, b, c]) =>
      `| ${name} | ${fmt(a.cpuMs)} | ${fmt(b.cpuMs)} | ${fmt(c.cpuMs)} | ${ratio(c.cpuMs, b.cpuMs)} | ${fmt(a.outputBytes)} | ${fmt(b.outputBytes)} | ${fmt(c.outputBytes)} |`,
    ),
    '',
    '| per event | Herald SDK | bare SPUBLISH | bare PUBLISH | PUBLISH ÷ SPUBLISH |',
    '|---|---:|---:|---:|---:|',
  ];
  const perEvent = (label, f) => {
    const [a, b, c] = [f(sdk), f(sharded), f(classic)];
    lines.push(`| ${label} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${c.toFixed(2)} | ${ratio(c, b)} |`);
  };
  // Nodes an event reached: the one that ran its command, plus those that received it over the bus.
  perEvent('nodes reached (ran it or received it over the bus)', (run) => sum(run, (c) => c.spublish + c.publish + c.busShardReceived + c.busPublishReceived) / n);
  perEvent('masters that ran a publish command', (run) => sum(run, (c) => c.spublish + c.publish) / n);
  perEvent('cluster bus messages sent', (run) => sum(run, (c) => c.busShardSent + c.busPublishSent) / n);
  perEvent('Redis CPU µs, all nodes', (run) => (sum(run, 'cpuMs') * 1000) / n);
  lines.push('', `Herald SDK: ${(n / Math.max(1, total(sdk).scripts)).toFixed(2)} events per script call (a batch holds the events of every slot its master serves).`);
  if ([sdk, sharded, classic].some((run) => run.failed > 0)) lines.push(`Failed publishes: SDK ${sdk.failed}, bare SPUBLISH ${sharded.failed}, bare PUBLISH ${classic.failed}.`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`cluster-fanin: ${error.stack ?? error}\n`);
    process.exit(1);
  },
);
