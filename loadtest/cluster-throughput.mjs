#!/usr/bin/env node
// Herald's throughput on one Redis, on a 1-shard Redis Cluster (one master owns all 16 384 slots)
// and on a 3-shard one, in one run on the same machine: the load tool's ramp scenario against each
// (gateways on REDIS_CLUSTER_NODES, the SDK with { cluster }), every event checked at every socket.
// Prints, per setup, the highest rate at which 99.9% of a step's events arrived within 100 ms, the
// delivery verdict of the whole run, and at that rate the CPU each kind of process used (cores, and
// µs per event) and the events per publish script call.
//   npm run build && node loadtest/cluster-throughput.mjs [load tool options, e.g. --step 2000 --users 2000]
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions, UsageError } from './lib/options.mjs';
import { runLoadTest } from './lib/run.mjs';
import { writeReports } from './lib/report.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const SETUPS = [
  ['one Redis', []],
  ['cluster, 1 shard', ['--redis-cluster', '1']],
  ['cluster, 3 shards', ['--redis-cluster', '3']],
];
const DEFAULTS = ['--users', '2000', '--step', '2000', '--step-seconds', '4', '--warmup', '2'];
const KINDS = ['gateway', 'redis', 'publishers', 'clients'];
const argv = process.argv.slice(2);
const command = `node loadtest/cluster-throughput.mjs${argv.length ? ` ${argv.join(' ')}` : ''}`;

async function main() {
  const results = [];
  for (const [label, extra] of SETUPS) {
    let options;
    try {
      options = parseOptions(['ramp', ...DEFAULTS, ...argv, ...extra]);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      process.stderr.write(`cluster-throughput: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`\ncluster-throughput: ${label}\n`);
    const result = await runLoadTest(options, { command });
    results.push({ label, result });
    writeReports([result], resolve(root, 'loadtest/reports'), `cluster-throughput-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`);
  }
  print(results);
}

function print(results) {
  const base = results.find(({ label }) => label === 'cluster, 1 shard')?.result.extra.maxRateWithin100ms;
  const ratio = (value) => (value && base ? ` (${(value / base).toFixed(2)}x)` : '');
  const lines = [
    '| setup | highest rate, 99.9% within 100 ms | ratio to 1 shard | delivery (whole run) | cores busy at that rate: gateway / Redis / publishers / clients | CPU µs per event at that rate: gateway / Redis / publishers / clients | events per script call (whole run) | p99 (whole run) |',
    '|---|---:|---:|---|---|---|---:|---:|',
  ];
  for (const { label, result } of results) {
    const top = result.extra.maxRateWithin100ms;
    const step = result.extra.steps.find((entry) => entry.rate === top);
    const d = result.delivery;
    const delivery = `${result.verdict.ok ? 'PASS' : 'FAIL'}: ${d.delivered.toLocaleString('en-US')} / ${d.sent.toLocaleString('en-US')}, lost ${d.lost}, duplicated ${d.duplicated}`;
    const cores = step ? KINDS.map((kind) => step.cores[kind] ?? '–').join(' / ') : '–';
    const perEvent = step ? KINDS.map((kind) => (step.cores[kind] === null ? '–' : Math.round((step.cores[kind] * 1e6) / top))).join(' / ') : '–';
    lines.push(
      `| ${label} | ${top?.toLocaleString('en-US') ?? 'none'} | ${ratio(top).replace(/[ ()]/g, '') || '–'} | ${delivery} | ${cores} | ${perEvent} | ${result.cost.eventsPerScriptCall ?? '–'} | ${result.latencyMs?.p99} ms |`,
    );
  }
  const first = results[0].result;
  lines.push(
    '',
    `Machine: ${first.machine.cpus} CPUs (${first.machine.cpuModel}), ${first.machine.memoryGB} GB, Node ${first.machine.node}, Redis ${first.machine.redis}. ` +
      `Ramp: +${first.options.step} events/s every ${first.options.stepSeconds} s, ${first.options.users} users, ${first.options.clients} client and ${first.options.publishers} publisher process(es), ${first.options.nodes} gateway node(s).`,
  );
  process.stdout.write(`\n${lines.join('\n')}\n`);
  process.exitCode = results.every(({ result }) => result.verdict.ok) ? 0 : 1;
}

main().then(
  () => setTimeout(() => process.exit(), 200).unref(),
  (error) => {
    process.stderr.write(`cluster-throughput: ${error.stack ?? error}\n`);
    process.exit(1);
  },
);
