#!/usr/bin/env node
// npm run loadtest -- <scenario> [options]: see loadtest/README.md, or --help.
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { parseOptions, usage, UsageError } from './lib/options.mjs';
import { runLoadTest } from './lib/run.mjs';
import { writeReports } from './lib/report.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The scenario's own headline figures, for the summary (all of them are in the reports). */
function scenarioLines(extra) {
  const lines = [];
  if ('maxRateWithin100ms' in extra) lines.push(`  highest rate with 99.9% within 100 ms: ${extra.maxRateWithin100ms ?? 'none of the steps'} events/s`);
  if (extra.stormConnectMs) lines.push(`  storm of ${extra.stormSockets} sockets: connect p50 ${extra.stormConnectMs.p50} ms, p99 ${extra.stormConnectMs.p99} ms`);
  if (extra.reconnectMs) lines.push(`  reconnects: ${extra.reconnectMs.count}, p99 ${extra.reconnectMs.p99} ms`);
  if ('rssGrowthPercent' in extra) lines.push(`  gateway RSS ${extra.rssGrowthPercent}% from the first to the last tenth; p99 ${extra.p99FirstTenthMs} -> ${extra.p99LastTenthMs} ms`);
  return lines;
}

async function main() {
  const argv = process.argv.slice(2);
  let options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`loadtest: ${error.message}\n\n${usage()}\n`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const command = `npm run loadtest -- ${argv.join(' ')}`;
  const result = await runLoadTest(options, { command });
  const name = options.name || `${options.scenario}-${options.system}-${result.startedAt.replace(/[:.]/g, '-')}`;
  const paths = writeReports([result], resolve(root, options.out), name);
  const { delivery, latencyMs, cost } = result;
  process.stdout.write(
    [
      '',
      `${result.verdict.ok ? 'PASS' : 'FAIL'}  ${options.scenario} · ${options.system}`,
      `  delivered ${delivery.delivered}/${delivery.expected}, lost ${delivery.lost}, duplicated ${delivery.duplicated}, reordered ${delivery.reordered}, leaked ${delivery.leaked}, gaps ${delivery.gaps}`,
      `  latency p50 ${latencyMs?.p50} ms, p99 ${latencyMs?.p99} ms, p99.9 ${latencyMs?.p999} ms, max ${latencyMs?.max} ms`,
      `  gateway ${cost.gatewayCpuUsPerEvent} CPU µs/event, ${cost.rssPerConnectionKB} KB RSS/connection; Redis ${cost.redisCpuUsPerEvent} CPU µs/event (${cost.eventsPerScriptCall ?? '–'} events/script call); publisher ${cost.publisherCpuUsPerEvent} CPU µs/event`,
      `  cores busy while publishing: gateway ${cost.cores.gateway}, Redis ${cost.cores.redis}, publishers ${cost.cores.publishers}, clients ${cost.cores.clients}`,
      ...scenarioLines(result.extra),
      ...result.verdict.failures.map((failure) => `  ✗ ${failure}`),
      `  reports: ${paths.join(', ')}`,
      '',
    ].join('\n'),
  );
  process.exitCode = result.verdict.ok ? 0 : 1;
}

main().then(
  () => setTimeout(() => process.exit(), 200).unref(),
  (error) => {
    process.stderr.write(`loadtest: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
