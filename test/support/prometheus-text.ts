import type { LabelMatcher, MetricSelector } from './promql.js';

/** One sample line of a Prometheus text-format scrape. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

export function parseSamples(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    const match = LINE.exec(line);
    if (!match) return [];
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(LABEL)].map(([, name, value]) => [name as string, unescape(value as string)]));
    return [{ name: match[1] as string, labels, value: Number(match[3]) }];
  });
}

function satisfies(labels: Sample['labels'], { label, op, value }: LabelMatcher): boolean {
  // PromQL: a missing label is the empty string; regular expressions are anchored.
  const actual = labels[label] ?? '';
  if (op === '=') return actual === value;
  if (op === '!=') return actual !== value;
  const matched = new RegExp(`^(?:${value})$`).test(actual);
  return op === '=~' ? matched : !matched;
}

/** The samples a selector picks out of a scrape. */
export function selectSamples(samples: readonly Sample[], selector: MetricSelector): Sample[] {
  return samples.filter((sample) => sample.name === selector.name && selector.matchers.every((matcher) => satisfies(sample.labels, matcher)));
}
