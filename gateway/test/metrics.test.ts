import { CloseCodes } from '@herald/protocol';
import { AUTH_FAILURE_REASONS } from '../src/auth/verifier.js';
import {
  BROKER_MESSAGE_KINDS,
  DROP_REASONS,
  HISTORY_PATHS,
  PUBLISH_STATUSES,
  RESUME_OUTCOMES,
  UPGRADE_REFUSAL_REASONS,
} from '../src/metric-labels.js';
import { GatewayMetrics } from '../src/metrics.js';
import { parseSamples } from '../../test/support/prometheus-text.js';

const LABELLED: readonly (readonly [name: string, label: string, values: readonly (string | number)[]])[] = [
  ['herald_connections_closed_total', 'code', [...Object.values(CloseCodes).map((entry) => entry.code), 1000, 1001, 1005, 1006, 'other']],
  ['herald_auth_failures_total', 'reason', AUTH_FAILURE_REASONS],
  ['herald_upgrades_refused_total', 'reason', UPGRADE_REFUSAL_REASONS],
  ['herald_broker_messages_total', 'kind', BROKER_MESSAGE_KINDS],
  ['herald_events_dropped_total', 'reason', DROP_REASONS],
  ['herald_resumes_total', 'outcome', RESUME_OUTCOMES],
  ['herald_gaps_signalled_total', 'path', HISTORY_PATHS],
  ['herald_backfilled_events_total', 'path', HISTORY_PATHS],
  ['herald_publish_requests_total', 'status', PUBLISH_STATUSES],
];

describe('gateway metrics', () => {
  it('have a sample of every herald_ metric before anything is counted', async () => {
    const text = await new GatewayMetrics('n1', 10).registry.metrics();
    const declared = [...text.matchAll(/^# TYPE (herald_\w+) /gm)].map((match) => match[1] as string);
    const sampled = new Set(parseSamples(text).map((sample) => sample.name.replace(/_(bucket|count|sum)$/, '')));
    expect(declared.length).toBeGreaterThan(15);
    expect(declared.filter((name) => !sampled.has(name))).toEqual([]);
  });

  it('start every known value of every labelled counter at 0', async () => {
    const samples = parseSamples(await new GatewayMetrics('n1', 10).registry.metrics());
    const labelled = samples.filter((sample) => sample.name.startsWith('herald_') && Object.keys(sample.labels).some((label) => label !== 'node' && label !== 'le'));
    expect([...new Set(labelled.map((sample) => sample.name))].sort()).toEqual(LABELLED.map(([name]) => name).sort());
    for (const [name, label, values] of LABELLED) {
      const series = samples.filter((sample) => sample.name === name);
      expect(series.map((sample) => sample.labels[label]).sort()).toEqual([...new Set(values.map(String))].sort());
      expect(series.every((sample) => sample.value === 0)).toBe(true);
    }
  });
});
