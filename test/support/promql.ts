/** A label matcher inside a PromQL selector: `reason="backpressure"`, `code!~"4.."`. */
export interface LabelMatcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

/** A metric a PromQL expression reads, with the matchers its selector gives. */
export interface MetricSelector {
  readonly name: string;
  readonly matchers: readonly LabelMatcher[];
}

/** Words that look like metric names in PromQL but are operators or modifiers. */
const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset',
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
]);

const STRING = /"(?:[^"\\]|\\.)*"/.source;
const MATCHER = new RegExp(`([a-zA-Z_]\\w*)\\s*(=~|!~|!=|=)\\s*(${STRING})`, 'g');

function matchers(braces: string): LabelMatcher[] {
  return [...braces.matchAll(MATCHER)].map(([, label, op, value]) => ({
    label: label as string,
    op: op as LabelMatcher['op'],
    value: JSON.parse(value as string) as string,
  }));
}

/**
 * The metric selectors in a PromQL expression. Enough PromQL for dashboards and alert rules:
 * label lists after by/without/on/ignoring, range durations and function calls are skipped.
 */
export function metricSelectors(expression: string): MetricSelector[] {
  const stripped = expression
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  // A string (skipped whole), or a name that is not part of a longer word or number, with its
  // braces if any, and not followed by "(" (a function call).
  const selector = new RegExp(`(${STRING})|(?<![\\w.:])([a-zA-Z_:][\\w:]*)(?![\\w:])\\s*(\\{(?:[^}"]|${STRING})*\\})?(?!\\s*\\()`, 'g');
  const found: MetricSelector[] = [];
  for (const [, string, name, braces] of stripped.matchAll(selector)) {
    if (string !== undefined || name === undefined || KEYWORDS.has(name)) continue;
    found.push({ name, matchers: braces === undefined ? [] : matchers(braces) });
  }
  return found;
}

/** A selector as PromQL writes it, for failure messages. */
export function formatSelector({ name, matchers: given }: MetricSelector): string {
  return given.length === 0 ? name : `${name}{${given.map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`).join(',')}}`;
}
