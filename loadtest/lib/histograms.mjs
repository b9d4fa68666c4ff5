// Latency histograms in microseconds (hdr-histogram-js), moved between processes as compressed
// strings and merged by the coordinator.
import { createRequire } from 'node:module';

const hdr = createRequire(import.meta.url)('hdr-histogram-js');

// 1 µs to 10 minutes at 3 significant digits.
const HIGHEST_US = 600_000_000;

export function newHistogram() {
  return hdr.build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

/** Records a latency given in milliseconds (fractional). */
export function recordMs(histogram, ms) {
  histogram.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
}

export function encode(histogram) {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decode(encoded) {
  return hdr.decodeFromCompressedBase64(encoded, 64, false);
}

/** Adds an encoded histogram to `into`. */
export function addEncoded(into, encoded) {
  into.add(decode(encoded));
}

const round = (value) => Math.round(value * 1000) / 1000;
const percentileMs = (histogram, p) => round(histogram.getValueAtPercentile(p) / 1000);

/** p50…max in milliseconds, or null for an empty histogram. */
export function summary(histogram) {
  if (histogram.totalCount === 0) return null;
  return {
    count: histogram.totalCount,
    mean: round(histogram.mean / 1000),
    p50: percentileMs(histogram, 50),
    p90: percentileMs(histogram, 90),
    p99: percentileMs(histogram, 99),
    p999: percentileMs(histogram, 99.9),
    max: round(histogram.maxValue / 1000),
  };
}

/** [latency ms, percentile] pairs, spaced evenly on a "nines" scale up to the maximum. */
export function cdf(histogram, points = 100) {
  if (histogram.totalCount === 0) return [];
  const rows = [];
  const maxNines = 5;
  for (let i = 0; i < points; i++) {
    const nines = (i / (points - 1)) * maxNines;
    const p = 100 * (1 - 10 ** -nines);
    rows.push([percentileMs(histogram, p), round(p)]);
  }
  rows.push([round(histogram.maxValue / 1000), 100]);
  return rows;
}
