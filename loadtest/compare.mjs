#!/usr/bin/env node
// npm run bench:compare: the same load against Herald and both peers in one run, the publish leg
// alone, and docs/benchmarks.md written from what was measured (figures, ratios to the floor,
// the targets, the command and the machine). Options are those of the load tool (loadtest/README.md).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions, usage, UsageError } from './lib/options.mjs';
import { runLoadTest } from './lib/run.mjs';
import { renderMarkdown, writeReports } from './lib/report.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const SYSTEMS = ['uws-minimal', 'herald', 'socketio'];
const DEFAULTS = ['--users', '2000', '--idle', '13000', '--duration', '8'];
const argv = process.argv.slice(2);

function optionsFor(scenario, system, extra = []) {
  return parseOptions([scenario, ...DEFAULTS, ...extra, ...argv, '--system', system]);
}

async function scenario(name, extra = []) {
  const results = [];
  for (const system of SYSTEMS) {
    const options = optionsFor(name, system, extra);
    process.stderr.write(`\nbench:compare: ${name} · ${system}\n`);
    results.push(await runLoadTest(options, { command: `npm run bench:compare${argv.length ? ` -- ${argv.join(' ')}` : ''}` }));
  }
  writeReports(results, resolve(root, 'loadtest/reports'), `compare-${name}`);
  return results;
}

const ratio = (value, floor) => (value == null || floor == null || floor === 0 ? null : value / floor);
const fmt = (value, digits = 2) => (value == null ? '–' : `${value.toFixed(digits)}x`);

/** The issue's targets, judged on this run's figures. */
function targets(steady, publish) {
  const by = Object.fromEntries(steady.map((result) => [result.system, result]));
  const floor = by['uws-minimal'];
  const herald = by.herald;
  const socketio = by.socketio;
  const bare = publish.rows[0];
  const sdk = publish.rows[1];
  const rows = [
    ['Gateway CPU per delivered event ≤ 1.0x the floor', ratio(herald.cost.gatewayCpuUsPerEvent, floor.cost.gatewayCpuUsPerEvent), (r) => r <= 1.0],
    ['p99 publish → socket ≤ 1.2x the floor', ratio(herald.latencyMs?.p99, floor.latencyMs?.p99), (r) => r <= 1.2],
    ['p99 below Socket.IO’s (ratio Herald / Socket.IO)', ratio(herald.latencyMs?.p99, socketio.latencyMs?.p99), (r) => r < 1],
    ['RSS per idle authenticated connection ≤ 3 KB (KB, not a ratio)', herald.cost.rssPerConnectionKB, (r) => r <= 3],
    ['SDK throughput ≥ 0.9x bare pipelined PUBLISH', ratio(sdk.closed.eventsPerSecond, bare.closed.eventsPerSecond), (r) => r >= 0.9],
    ['Redis CPU per published event ≤ 2x bare PUBLISH', ratio(sdk.open.redisCpuUsPerEvent, bare.open.redisCpuUsPerEvent), (r) => r <= 2],
  ];
  return [
    '| target | this run | met |',
    '|---|---|---|',
    ...rows.map(([label, value, met]) => `| ${label} | ${label.includes('KB') ? `${value ?? '–'} KB` : fmt(value)} | ${value == null ? '–' : met(value) ? 'yes' : '**no**'} |`),
  ].join('\n');
}

async function main() {
  try {
    for (const system of SYSTEMS) optionsFor('steady', system);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench:compare: ${error.message}\n\n${usage()}\n`);
    process.exit(2);
  }
  const steady = await scenario('steady');
  const burst = await scenario('burst', ['--idle', '0']);
  const storm = await scenario('reconnect-storm', ['--idle', '0', '--nodes', '2']);
  process.stderr.write('\nbench:compare: publish leg\n');
  const jsonPath = resolve(root, 'loadtest/reports/compare-publish.json');
  mkdirSync(resolve(root, 'loadtest/reports'), { recursive: true });
  const publishTable = execFileSync(process.execPath, [resolve(root, 'loadtest/publish-bench.mjs'), '--json', jsonPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const publish = JSON.parse(readFileSync(jsonPath, 'utf8'));

  // A run's report starts at level 1; here it sits under a level-2 section.
  const demote = (markdown) => markdown.replace(/^(#+) /gm, '##$1 ');
  const doc = [
    '# Benchmarks',
    '',
    'Herald side by side with the floor (`loadtest/peers/uws-minimal`: the smallest uWebSockets.js +',
    'ioredis per-user forwarder, no guarantees) and Socket.IO 4 with its Redis adapter and emitter',
    '(`loadtest/peers/socketio`), under the same load, on the same machine, in one run. Every run',
    'checks each socket for loss, duplicates, order and leaks. Ratios are to the floor. Figures',
    'differ between machines; the ratios are what to compare.',
    '',
    'Produced by:',
    '',
    '```sh',
    `npm run bench:compare${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    '```',
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}. The HTML reports with plots are written to \`loadtest/reports/compare-*.html\`.`,
    '',
    '## Targets',
    '',
    targets(steady, publish),
    '',
    '## Steady load',
    '',
    demote(renderMarkdown(steady)),
    '## Bursts',
    '',
    demote(renderMarkdown(burst)),
    '## A node stops under load (reconnect storm)',
    '',
    'The peers have no history: their clients reconnect but what was published meanwhile is lost.',
    '',
    demote(renderMarkdown(storm)),
    '## The publish leg alone',
    '',
    '```sh',
    'node loadtest/publish-bench.mjs',
    '```',
    '',
    publishTable.trim(),
    '',
  ].join('\n');
  writeFileSync(resolve(root, 'docs/benchmarks.md'), doc);
  process.stderr.write('\nbench:compare: wrote docs/benchmarks.md\n');
}

main().then(
  () => setTimeout(() => process.exit(0), 200).unref(),
  (error) => {
    process.stderr.write(`bench:compare: ${error.stack ?? error}\n`);
    process.exit(1);
  },
);
