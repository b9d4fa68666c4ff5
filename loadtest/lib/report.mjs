// The reports of a load-test run: a Markdown summary and one self-contained HTML page (inline CSS,
// inline SVG charts) for one system or several side by side. No dependencies and nothing fetched,
// so a report opens anywhere, offline, years later.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const DASH = '–';
const FLOOR = 'uws-minimal';
const COLOURS = { herald: '#0b6bcb', 'uws-minimal': '#6b7280', socketio: '#d55e00' };
const SPARE_COLOURS = ['#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#8c564b'];

/**
 * The run as Markdown: scenario and verdict, the command, the machine, one table with a column
 * per system (with each figure's ratio to uws-minimal when that floor is in the run), then each
 * system's scenario-specific figures.
 * @param {object[]} results one run result per system
 * @returns {string}
 */
export function renderMarkdown(results) {
  const runs = asList(results);
  const lines = [`# ${heading(runs)}: ${verdictWord(runs)}`, ''];
  if (runs.length === 0) return `${lines.join('\n')}\nNo results.\n`;

  const started = unique(runs.map((run) => formatDate(run.startedAt)));
  if (started.length > 0) lines.push(`Started ${started.join(', ')}.`, '');
  const failures = failureLines(runs);
  if (failures.length > 0) lines.push('Failures:', '', ...failures.map((line) => `- ${line}`), '');

  const commands = unique(runs.map((run) => run.command));
  if (commands.length > 0) lines.push(codeBlock(commands.join('\n')), '');
  for (const machine of unique(runs.map((run) => machineLine(run.machine)))) lines.push(`Machine: ${machine}  `);
  for (const options of unique(runs.map((run) => optionsLine(run.options)))) lines.push(`Options: ${options}  `);
  lines.push('');

  const names = systemNames(runs);
  lines.push(markdownTable(
    ['', ...names],
    [
      ['verdict', ...runs.map((run) => (run.verdict?.ok ? 'PASS' : 'FAIL'))],
      ...keyFigures(runs).map(({ label, cells }) => [label, ...cells.map((cell) => (cell.ratio ? `${cell.text} (${cell.ratio})` : cell.text))]),
    ],
    ['left', ...names.map(() => 'right')],
  ));
  if (floorOf(runs) && runs.length > 1) lines.push('', `Ratios in brackets are to ${FLOOR}, the floor: the same work with nothing but uWebSockets.js and ioredis.`);

  runs.forEach((run, index) => {
    if (!hasExtra(run.extra)) return;
    lines.push('', `## ${runs.length > 1 ? `${names[index]}: ` : ''}${run.scenario ?? 'scenario'} figures`, '', ...markdownExtra(run.extra));
  });
  return `${lines.join('\n')}\n`;
}

/**
 * The run as one self-contained HTML page: a header with the verdict and its failures, the key
 * figures, then charts of latency over time, the latency distribution, delivery rate and gateway
 * memory.
 * @param {object[]} results one run result per system
 * @returns {string}
 */
export function renderHtml(results) {
  const runs = asList(results);
  const names = systemNames(runs);
  const colours = systemColours(names);
  const ok = runs.length > 0 && runs.every((run) => run.verdict?.ok);
  const title = `Herald load test: ${heading(runs)}`;
  const body = [
    htmlHeader(runs, names, ok),
    runs.length === 0 ? '<p>No results.</p>' : htmlFigures(runs, names, colours),
    runs.length === 0 ? '' : htmlCharts(runs, names, colours),
    ...runs.map((run, index) => htmlExtra(run, runs.length > 1 ? names[index] : null)),
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${title}: ${verdictWord(runs)}`)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

/**
 * Writes `<baseName>.json`, `<baseName>.md` and `<baseName>.html` into `directory`, creating it.
 * Synchronous: it runs once, at the end of a run, and the paths are printed right after.
 * @param {object[]} results one run result per system
 * @param {string} directory
 * @param {string} baseName file name without extension
 * @returns {string[]} the paths of the JSON, Markdown and HTML files, in that order
 */
export function writeReports(results, directory, baseName) {
  mkdirSync(directory, { recursive: true });
  const files = [
    [`${baseName}.json`, JSON.stringify(results, null, 2)],
    [`${baseName}.md`, renderMarkdown(results)],
    [`${baseName}.html`, renderHtml(results)],
  ];
  return files.map(([name, text]) => {
    const path = join(directory, name);
    writeFileSync(path, text);
    return path;
  });
}

// ---------------------------------------------------------------------------------------------
// What both reports say

function asList(results) {
  if (results == null) return [];
  return Array.isArray(results) ? results : [results];
}

function unique(values) {
  return [...new Set(values.filter((value) => value != null && value !== ''))];
}

function heading(runs) {
  return unique(runs.map((run) => run.scenario)).join(' / ') || 'run';
}

function verdictWord(runs) {
  if (runs.length === 0) return 'NO RESULTS';
  return runs.every((run) => run.verdict?.ok) ? 'PASS' : 'FAIL';
}

/** The system names as column headings; a system run twice gets a number so its columns differ. */
function systemNames(runs) {
  const seen = new Map();
  const total = new Map();
  for (const run of runs) total.set(run.system ?? 'system', (total.get(run.system ?? 'system') ?? 0) + 1);
  return runs.map((run) => {
    const name = run.system ?? 'system';
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return total.get(name) > 1 ? `${name} #${count}` : name;
  });
}

function systemColours(names) {
  let spare = 0;
  return names.map((name, index) => {
    const base = name.replace(/ #\d+$/, '');
    if (COLOURS[base] && names.findIndex((other) => other.replace(/ #\d+$/, '') === base) === index) return COLOURS[base];
    return SPARE_COLOURS[spare++ % SPARE_COLOURS.length];
  });
}

function failureLines(runs) {
  const names = systemNames(runs);
  return runs.flatMap((run, index) => {
    const failures = run.verdict?.failures ?? [];
    const prefix = runs.length > 1 ? `${names[index]}: ` : '';
    if (failures.length === 0 && run.verdict?.ok === false) return [`${prefix}failed`];
    return failures.map((failure) => `${prefix}${failure}`);
  });
}

function formatDate(iso) {
  if (!iso) return null;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function machineLine(machine) {
  if (!machine) return null;
  const parts = [];
  if (machine.cpus != null) parts.push(`${machine.cpus} CPU${machine.cpus === 1 ? '' : 's'}${machine.cpuModel ? ` (${machine.cpuModel})` : ''}`);
  if (machine.memoryGB != null) parts.push(`${formatNumber(machine.memoryGB)} GB memory`);
  if (machine.node) parts.push(`Node ${machine.node}`);
  if (machine.redis) parts.push(`Redis ${machine.redis}`);
  return parts.join(', ') || null;
}

function optionsLine(options) {
  if (!options) return null;
  return Object.entries(options)
    .filter(([, value]) => value != null)
    .map(([key, value]) => `${key} ${typeof value === 'number' ? formatNumber(value) : String(value)}`)
    .join(', ') || null;
}

/**
 * Numbers at a precision a reader can compare: integers from 100 up with thousands separators,
 * smaller values with three significant digits at most.
 */
function formatNumber(value) {
  if (value == null || !Number.isFinite(value)) return DASH;
  const magnitude = Math.abs(value);
  if (magnitude >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  if (magnitude >= 10) return trimZeros(value.toFixed(1));
  if (magnitude >= 1) return trimZeros(value.toFixed(2));
  return String(Number(value.toPrecision(3)));
}

function trimZeros(text) {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

function withUnit(value, unit) {
  const text = formatNumber(value);
  return text === DASH || !unit ? text : `${text} ${unit}`;
}

const leg = (name, percentile) => (run) => run.legsMs?.[name]?.[percentile];

/** The rows of the key-figure table; `ratio` rows are compared with the floor, `problem` rows should be 0. */
const ROWS = [
  { section: 'Delivery' },
  { label: 'delivered / sent', cell: deliveredCell },
  { label: 'lost', value: (run) => run.delivery?.lost, problem: true },
  { label: 'duplicated', value: (run) => run.delivery?.duplicated, problem: true },
  { label: 'reordered', value: (run) => run.delivery?.reordered, problem: true },
  { label: 'leaked', value: (run) => run.delivery?.leaked, problem: true },
  { label: 'gaps', value: (run) => run.delivery?.gaps, problem: true },
  { section: 'Latency, publish call → socket' },
  { label: 'latency p50', value: (run) => run.latencyMs?.p50, unit: 'ms', ratio: true },
  { label: 'latency p90', value: (run) => run.latencyMs?.p90, unit: 'ms', ratio: true },
  { label: 'latency p99', value: (run) => run.latencyMs?.p99, unit: 'ms', ratio: true },
  { label: 'latency p99.9', value: (run) => run.latencyMs?.p999, unit: 'ms', ratio: true },
  { label: 'latency max', value: (run) => run.latencyMs?.max, unit: 'ms', ratio: true },
  { section: 'Legs' },
  { label: 'publish call → Redis reply p50', value: leg('publish', 'p50'), unit: 'ms', ratio: true },
  { label: 'publish call → Redis reply p99', value: leg('publish', 'p99'), unit: 'ms', ratio: true },
  // The gateway's own histogram (herald_delivery_latency_seconds): millisecond timestamps, bucketed.
  { label: 'publish call → gateway send p50', value: leg('toGateway', 'p50'), unit: 'ms', ratio: true },
  { label: 'publish call → gateway send p99', value: leg('toGateway', 'p99'), unit: 'ms', ratio: true },
  { section: 'Connecting' },
  { label: 'connect p99', value: (run) => run.connect?.latencyMs?.p99, unit: 'ms', ratio: true },
  { section: 'Cost' },
  { label: 'gateway CPU per event', value: (run) => run.cost?.gatewayCpuUsPerEvent, unit: 'µs', ratio: true },
  { label: 'gateway RSS per connection', value: (run) => run.cost?.rssPerConnectionKB, unit: 'KB', ratio: true },
  { label: 'Redis CPU per event', value: (run) => run.cost?.redisCpuUsPerEvent, unit: 'µs', ratio: true },
  { label: 'Redis memory per published event', value: (run) => run.cost?.redisMemoryPerEventBytes, unit: 'B', ratio: true },
  { label: 'publisher CPU per event', value: (run) => run.cost?.publisherCpuUsPerEvent, unit: 'µs', ratio: true },
  { label: 'events per publish script call', value: (run) => run.cost?.eventsPerScriptCall },
  { label: 'cores busy: gateway / Redis / publishers / clients', cell: coresCell },
];

function coresCell(run) {
  const cores = run.cost?.cores;
  return { text: cores ? ['gateway', 'redis', 'publishers', 'clients'].map((kind) => formatNumber(cores[kind])).join(' / ') : DASH };
}

function deliveredCell(run) {
  const { delivered, sent, expected } = run.delivery ?? {};
  if (delivered == null && sent == null) return { text: DASH };
  let text = `${formatNumber(delivered)} / ${formatNumber(sent)}`;
  if (expected != null && expected !== sent) text += ` (expected ${formatNumber(expected)})`;
  return { text, bad: delivered != null && expected != null && delivered < expected };
}

function floorOf(runs) {
  return runs.find((run) => run.system === FLOOR) ?? null;
}

/**
 * The key figures, one entry per table row (sections included, with `section` set), each with one
 * cell per run: its text, its ratio to the floor when there is one, and whether it is a problem.
 */
function keyFigures(runs, { sections = false } = {}) {
  const floor = floorOf(runs);
  return ROWS.filter((row) => sections || !row.section).map((row) => {
    if (row.section) return { section: row.section };
    const cells = runs.map((run) => {
      if (row.cell) return row.cell(run);
      const value = numberOrNull(row.value(run));
      const cell = { text: withUnit(value, row.unit), bad: row.problem && value != null && value > 0 };
      if (row.ratio && floor && run !== floor) cell.ratio = ratio(value, numberOrNull(row.value(floor)));
      return cell;
    });
    return { label: row.label, cells };
  });
}

function numberOrNull(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function ratio(value, floorValue) {
  if (value == null || floorValue == null || floorValue <= 0) return null;
  const times = value / floorValue;
  return `${times >= 10 ? times.toFixed(1) : times.toFixed(2)}x`;
}

function hasExtra(extra) {
  return extra != null && typeof extra === 'object' && Object.keys(extra).length > 0;
}

function isPlainObject(value) {
  return value != null && typeof value === 'object' && !Array.isArray(value);
}

function isTableArray(value) {
  return Array.isArray(value) && value.length > 0 && value.every(isPlainObject);
}

/** Nested objects become dotted keys, so every figure is one row; arrays of objects stay whole. */
function flattenExtra(extra, prefix = '') {
  return Object.entries(extra).flatMap(([key, value]) => {
    const name = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(value) && Object.keys(value).length > 0) return flattenExtra(value, name);
    return [[name, value]];
  });
}

function columnsOf(rows) {
  return unique(rows.flatMap((row) => Object.keys(row)));
}

function plainValue(value) {
  if (value == null) return DASH;
  if (typeof value === 'number') return formatNumber(value);
  if (Array.isArray(value)) return value.length === 0 ? DASH : value.map(plainValue).join(', ');
  if (isPlainObject(value)) return Object.keys(value).length === 0 ? DASH : JSON.stringify(value);
  return String(value);
}

// ---------------------------------------------------------------------------------------------
// Markdown

function markdownExtra(extra) {
  const entries = flattenExtra(extra);
  const scalars = entries.filter(([, value]) => !isTableArray(value));
  const tables = entries.filter(([, value]) => isTableArray(value));
  const lines = [];
  if (scalars.length > 0) lines.push(markdownTable(['figure', 'value'], scalars.map(([key, value]) => [key, plainValue(value)]), ['left', 'right']));
  for (const [key, rows] of tables) {
    const columns = columnsOf(rows);
    if (lines.length > 0) lines.push('');
    lines.push(`${key}:`, '', markdownTable(columns, rows.map((row) => columns.map((column) => plainValue(row[column]))), columns.map(() => 'right')));
  }
  return lines;
}

function markdownTable(header, rows, align) {
  const cell = (text) => String(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const rule = align.map((side) => (side === 'right' ? '---:' : '---'));
  return [header, rule, ...rows].map((row, index) => `| ${(index === 1 ? row : row.map(cell)).join(' | ')} |`).join('\n');
}

/** A fence longer than any run of backticks in the text, so a command cannot end it early. */
function codeBlock(text) {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}sh\n${text}\n${fence}`;
}

// ---------------------------------------------------------------------------------------------
// HTML

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]);
}

function htmlHeader(runs, names, ok) {
  const started = unique(runs.map((run) => formatDate(run.startedAt)));
  const commands = unique(runs.map((run) => run.command));
  const machines = unique(runs.map((run) => machineLine(run.machine)));
  const options = unique(runs.map((run) => optionsLine(run.options)));
  const failures = failureLines(runs);
  const verdict = verdictWord(runs);
  const facts = [
    ...started.map((text) => ['Started', text]),
    ...machines.map((text) => ['Machine', text]),
    ...options.map((text) => ['Options', text]),
  ];
  return `<header>
  <div class="title">
    <div>
      <p class="kicker">Herald load test</p>
      <h1>${escapeHtml(heading(runs))}</h1>
      <p class="systems">${runs.length === 0 ? '' : names.map((name, index) => `<span class="chip ${runs[index].verdict?.ok ? 'ok' : 'bad'}">${escapeHtml(name)}: ${runs[index].verdict?.ok ? 'pass' : 'fail'}</span>`).join(' ')}</p>
    </div>
    <div class="verdict ${ok ? 'ok' : 'bad'}">${escapeHtml(verdict)}</div>
  </div>
  ${failures.length > 0 ? `<div class="failures"><h2>Failures</h2><ul>${failures.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul></div>` : ''}
  ${commands.length > 0 ? `<pre class="command"><code>${escapeHtml(commands.join('\n'))}</code></pre>` : ''}
  ${facts.length > 0 ? `<dl class="facts">${facts.map(([term, text]) => `<dt>${term}</dt><dd>${escapeHtml(text)}</dd>`).join('')}</dl>` : ''}
</header>`;
}

function htmlFigures(runs, names, colours) {
  const head = `<tr><th></th>${names.map((name, index) => `<th class="num"><span class="swatch" style="background:${colours[index]}"></span>${escapeHtml(name)}</th>`).join('')}</tr>`;
  const rows = keyFigures(runs, { sections: true }).map((row) => {
    if (row.section) return `<tr class="section"><th colspan="${runs.length + 1}">${escapeHtml(row.section)}</th></tr>`;
    const cells = row.cells.map((cell) => {
      const ratioText = cell.ratio ? ` <span class="ratio">${escapeHtml(cell.ratio)}</span>` : '';
      return `<td class="num${cell.bad ? ' bad' : ''}">${escapeHtml(cell.text)}${ratioText}</td>`;
    });
    return `<tr><th>${escapeHtml(row.label)}</th>${cells.join('')}</tr>`;
  });
  const note = floorOf(runs) && runs.length > 1
    ? `<p class="note">Ratios are to ${FLOOR}, the floor: the same work with nothing but uWebSockets.js and ioredis.</p>`
    : '';
  return `<section>
  <h2>Key figures</h2>
  <div class="scroll"><table class="figures"><thead>${head}</thead><tbody>${rows.join('\n')}</tbody></table></div>
  ${note}
</section>`;
}

function htmlExtra(run, name) {
  if (!hasExtra(run.extra)) return '';
  const rows = flattenExtra(run.extra).map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td${isTableArray(value) ? '' : ' class="num"'}>${htmlValue(value)}</td></tr>`);
  return `<section>
  <h2>${escapeHtml(`${name ? `${name}: ` : ''}${run.scenario ?? 'scenario'} figures`)}</h2>
  <div class="scroll"><table class="extra"><tbody>${rows.join('\n')}</tbody></table></div>
</section>`;
}

function htmlValue(value) {
  if (!isTableArray(value)) return escapeHtml(plainValue(value));
  const columns = columnsOf(value);
  const head = `<tr>${columns.map((column) => `<th class="num">${escapeHtml(column)}</th>`).join('')}</tr>`;
  const body = value.map((row) => `<tr>${columns.map((column) => `<td class="num">${escapeHtml(plainValue(row[column]))}</td>`).join('')}</tr>`);
  return `<table class="inner"><thead>${head}</thead><tbody>${body.join('')}</tbody></table>`;
}

function htmlCharts(runs, names, colours) {
  const timeline = (run) => (Array.isArray(run.timeline) ? run.timeline : []);
  // A soak lasts hours: beyond ten minutes the time axis counts minutes, not thousands of seconds.
  const lastSecond = Math.max(0, ...runs.flatMap((run) => timeline(run).map((entry) => numberOrNull(entry?.t) ?? 0)));
  const perMinute = lastSecond > 600;
  const along = (run, field) => timeline(run).map((entry) => ({ x: perMinute && entry?.t != null ? entry.t / 60 : entry?.t, y: entry?.[field] }));
  const time = { label: `time since publishing started (${perMinute ? 'min' : 's'})`, scale: 'linear', integer: true, format: formatTick };
  const charts = [
    chart({
      id: 'chart-1',
      title: 'Latency over time',
      subtitle: 'p50 and p99 of each second, publish call → socket',
      x: time,
      y: { label: 'latency (ms)', scale: 'log' },
      styles: [['p99', null], ['p50', '5 4']],
      series: runs.flatMap((run, index) => [
        { system: index, colour: colours[index], points: along(run, 'p99') },
        { system: index, colour: colours[index], dash: '5 4', points: along(run, 'p50') },
      ]),
    }),
    chart({
      id: 'chart-2',
      title: 'Latency distribution',
      subtitle: 'whole run; the axis spreads the tail: each step is one more nine',
      x: { label: 'percentile', scale: 'nines' },
      y: { label: 'latency (ms)', scale: 'log' },
      series: runs.map((run, index) => ({
        system: index,
        colour: colours[index],
        points: (Array.isArray(run.cdf) ? run.cdf : []).map((point) => ({ p: point?.[1], y: point?.[0] })),
      })),
    }),
    chart({
      id: 'chart-3',
      title: 'Delivery rate',
      subtitle: 'events delivered to sockets and published, per second',
      x: time,
      y: { label: 'events per second', scale: 'linear' },
      styles: [['delivered', null], ['sent', '5 4']],
      series: runs.flatMap((run, index) => [
        { system: index, colour: colours[index], points: along(run, 'delivered') },
        { system: index, colour: colours[index], dash: '5 4', points: along(run, 'sent') },
      ]),
    }),
    chart({
      id: 'chart-4',
      title: 'Gateway memory',
      subtitle: 'resident set size of the gateway process(es)',
      x: time,
      y: { label: 'RSS (MB)', scale: 'linear' },
      series: runs.map((run, index) => ({ system: index, colour: colours[index], points: along(run, 'gatewayRssMB') })),
    }),
  ];
  return `<section>
  <h2>Charts</h2>
  <div class="charts">
${charts.map((item) => item(names)).join('\n')}
  </div>
</section>`;
}

// ---------------------------------------------------------------------------------------------
// SVG charts

const WIDTH = 580;
const HEIGHT = 300;
const MARGIN = { top: 14, right: 30, bottom: 46, left: 64 };
const PLOT = { left: MARGIN.left, top: MARGIN.top, right: WIDTH - MARGIN.right, bottom: HEIGHT - MARGIN.bottom };
const MAX_POINTS = 1200;

/**
 * One line chart as a figure: title, an HTML legend (it wraps instead of clipping), and the SVG.
 * Points whose value is missing, not finite or (on a log axis) not positive break the line.
 * Returns a function of the system names so legends can name systems without data.
 */
function chart({ id, title, subtitle, x, y, series, styles = [] }) {
  const xScale = x.scale === 'nines' ? ninesAxis(series) : null;
  const placed = series.map((line) => ({
    ...line,
    points: line.points
      .map((point) => ({
        x: xScale ? xScale.position(point.p) : numberOrNull(point.x),
        y: usable(point.y, y.scale) ? point.y : null,
      }))
      .filter((point) => point.x != null),
  }));
  // The x range comes from every point: thinning may drop the first and last second.
  const xs = placed.flatMap((line) => line.points.map((point) => point.x));
  const prepared = placed.map((line) => ({ ...line, points: thin(line.points) }));
  const ys = prepared.flatMap((line) => line.points.filter((point) => point.y != null).map((point) => point.y));
  const hasData = ys.length > 0;
  const xAxis = xScale ?? linearAxis(xs, { integer: x.integer, fromZero: false, format: x.format });
  const yAxis = y.scale === 'log' ? logAxis(ys) : linearAxis(ys, { fromZero: true, format: formatTick });
  const px = (value) => PLOT.left + ((value - xAxis.min) / (xAxis.max - xAxis.min)) * (PLOT.right - PLOT.left);
  const py = (value) => PLOT.bottom - ((yAxis.transform(value) - yAxis.transform(yAxis.min)) / (yAxis.transform(yAxis.max) - yAxis.transform(yAxis.min))) * (PLOT.bottom - PLOT.top);

  const grid = [
    ...yAxis.ticks.map((tick) => `<line class="grid${tick.minor ? ' minor' : ''}" x1="${PLOT.left}" x2="${PLOT.right}" y1="${round(py(tick.value))}" y2="${round(py(tick.value))}"/>`),
    ...xAxis.ticks.map((tick) => `<line class="grid" x1="${round(px(tick.value))}" x2="${round(px(tick.value))}" y1="${PLOT.top}" y2="${PLOT.bottom}"/>`),
  ];
  const labels = [
    ...yAxis.ticks.filter((tick) => tick.label != null).map((tick) => `<text class="tick" x="${PLOT.left - 6}" y="${round(py(tick.value))}" text-anchor="end" dominant-baseline="middle">${escapeHtml(tick.label)}</text>`),
    ...xAxis.ticks.map((tick) => `<text class="tick" x="${round(px(tick.value))}" y="${PLOT.bottom + 16}" text-anchor="middle">${escapeHtml(tick.label)}</text>`),
    `<text class="axis" x="${round((PLOT.left + PLOT.right) / 2)}" y="${HEIGHT - 8}" text-anchor="middle">${escapeHtml(x.label)}</text>`,
    `<text class="axis" transform="translate(16 ${round((PLOT.top + PLOT.bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeHtml(y.label)}</text>`,
  ];
  const lines = hasData ? prepared.map((line) => drawLine(line, px, py)) : [];
  const empty = hasData ? '' : `<text class="empty" x="${round((PLOT.left + PLOT.right) / 2)}" y="${round((PLOT.top + PLOT.bottom) / 2)}" text-anchor="middle" dominant-baseline="middle">no data</text>`;
  const svg = `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(title)}" xmlns="http://www.w3.org/2000/svg">
  <defs><clipPath id="${id}-plot"><rect x="${PLOT.left - 4}" y="${PLOT.top - 4}" width="${PLOT.right - PLOT.left + 8}" height="${PLOT.bottom - PLOT.top + 8}"/></clipPath></defs>
  ${grid.join('\n  ')}
  <rect class="frame" x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}"/>
  <g clip-path="url(#${id}-plot)">${lines.join('\n  ')}</g>
  ${labels.join('\n  ')}
  ${empty}
</svg>`;

  return (names) => {
    const withData = new Set(prepared.filter((line) => line.points.some((point) => point.y != null)).map((line) => line.system));
    const systems = unique(series.map((line) => line.system)).map((index) => {
      const colour = series.find((line) => line.system === index).colour;
      const missing = withData.has(index) ? '' : ' <span class="muted">(no data)</span>';
      return `<span class="key"><i style="background:${colour}"></i>${escapeHtml(names[index])}${missing}</span>`;
    });
    const dashes = styles.map(([label, dash]) => `<span class="key"><svg width="26" height="10" aria-hidden="true"><line x1="1" x2="25" y1="5" y2="5" stroke="#333" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/></svg>${escapeHtml(label)}</span>`);
    return `<figure>
  <figcaption><h3>${escapeHtml(title)}</h3><p>${escapeHtml(subtitle)}</p></figcaption>
  <div class="legend">${systems.join('')}${dashes.length > 0 ? `<span class="sep"></span>${dashes.join('')}` : ''}</div>
  ${svg}
</figure>`;
  };
}

function usable(value, scale) {
  return typeof value === 'number' && Number.isFinite(value) && (scale !== 'log' || value > 0);
}

function round(value) {
  return Math.round(value * 10) / 10;
}

/** Draws each unbroken run of points as one path; a lone point as a dot, so a single second shows. */
function drawLine(line, px, py) {
  const runs = [];
  let current = [];
  for (const point of line.points) {
    if (point.y == null) {
      if (current.length > 0) runs.push(current);
      current = [];
    } else current.push(point);
  }
  if (current.length > 0) runs.push(current);
  const dots = line.points.length <= 20;
  const parts = runs.map((run) => {
    const path = run.map((point, index) => `${index === 0 ? 'M' : 'L'}${round(px(point.x))} ${round(py(point.y))}`).join('');
    const markers = dots || run.length === 1
      ? run.map((point) => `<circle cx="${round(px(point.x))}" cy="${round(py(point.y))}" r="2.6" fill="${line.colour}"/>`).join('')
      : '';
    return `${run.length > 1 ? `<path d="${path}" fill="none" stroke="${line.colour}" stroke-width="1.8" stroke-linejoin="round"${line.dash ? ` stroke-dasharray="${line.dash}"` : ''}/>` : ''}${markers}`;
  });
  return parts.join('');
}

/**
 * Long runs (a soak) have more seconds than the chart has pixels: keeps the lowest and highest
 * point of each stretch, so spikes and dips survive the thinning.
 */
function thin(points) {
  if (points.length <= MAX_POINTS) return points;
  const size = Math.ceil(points.length / (MAX_POINTS / 2));
  const kept = [];
  for (let start = 0; start < points.length; start += size) {
    const stretch = points.slice(start, start + size);
    const valued = stretch.filter((point) => point.y != null);
    if (valued.length === 0) {
      kept.push(stretch[0]);
      continue;
    }
    let low = valued[0];
    let high = valued[0];
    for (const point of valued) {
      if (point.y < low.y) low = point;
      if (point.y > high.y) high = point;
    }
    if (low === high) kept.push(low);
    else kept.push(...(low.x < high.x ? [low, high] : [high, low]));
  }
  return kept;
}

function linearAxis(values, { integer = false, fromZero, format }) {
  let min = values.length > 0 ? Math.min(...values) : 0;
  let max = values.length > 0 ? Math.max(...values) : 1;
  if (fromZero) min = Math.min(0, min);
  if (max <= min) max = min + (integer ? 1 : Math.max(1, Math.abs(min)));
  let step = niceStep((max - min) / 5);
  if (integer) step = Math.max(1, step);
  if (fromZero) {
    min = Math.floor(min / step) * step;
    max = Math.ceil(max / step) * step;
  }
  const ticks = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) {
    const clean = Number(value.toPrecision(12));
    ticks.push({ value: clean, label: format(clean) });
  }
  return { min, max, ticks, transform: (value) => value };
}

function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/** Whole decades around the data; with three decades or fewer, 2 and 5 of each decade are labelled too. */
function logAxis(values) {
  let low = values.length > 0 ? Math.floor(Math.log10(Math.min(...values))) : 0;
  let high = values.length > 0 ? Math.ceil(Math.log10(Math.max(...values))) : 1;
  if (high <= low) high = low + 1;
  const ticks = [];
  const dense = high - low <= 3;
  for (let exponent = low; exponent <= high; exponent += 1) {
    const decade = 10 ** exponent;
    ticks.push({ value: decade, label: formatTick(decade) });
    if (exponent === high) break;
    for (const multiple of [2, 3, 4, 5, 6, 7, 8, 9]) {
      const labelled = dense && (multiple === 2 || multiple === 5);
      ticks.push({ value: multiple * decade, label: labelled ? formatTick(multiple * decade) : null, minor: !labelled });
    }
  }
  return { min: 10 ** low, max: 10 ** high, ticks, transform: Math.log10 };
}

/**
 * Percentiles on a "nines" axis, -log10(1 - p/100): 0, 90, 99, 99.9… evenly spaced. 100 (the
 * maximum) has no place on it, so it gets its own step at the right, labelled "max".
 */
function ninesAxis(series) {
  const percentiles = series.flatMap((line) => line.points.map((point) => point.p)).filter((p) => typeof p === 'number' && Number.isFinite(p));
  const finite = percentiles.filter((p) => p < 100).map(nines);
  const last = Math.min(7, Math.max(3, Math.ceil(Math.max(0, ...finite) - 1e-9)));
  const withMax = percentiles.some((p) => p >= 100);
  const ticks = [];
  for (let step = 0; step <= last; step += 1) ticks.push({ value: step, label: ninesLabel(step) });
  if (withMax) ticks.push({ value: last + 1, label: 'max' });
  return {
    min: 0,
    max: withMax ? last + 1 : last,
    ticks,
    position: (p) => {
      if (typeof p !== 'number' || !Number.isFinite(p) || p < 0) return null;
      return p >= 100 ? last + 1 : Math.min(last, nines(p));
    },
  };
}

function nines(percentile) {
  return -Math.log10(1 - percentile / 100);
}

function ninesLabel(step) {
  if (step === 0) return '0';
  if (step === 1) return '90';
  return `99.${'9'.repeat(step - 2)}`.replace(/\.$/, '');
}

function formatTick(value) {
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (magnitude >= 1e3) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

const STYLE = `
:root { color-scheme: light; --ink: #1f2328; --muted: #656d76; --line: #d8dee4; --soft: #f6f8fa; --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink); font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 30px; margin: 0; line-height: 1.2; }
h2 { font-size: 18px; margin: 32px 0 12px; }
h3 { font-size: 15px; margin: 0; }
.kicker { margin: 0; color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .06em; }
.title { display: flex; justify-content: space-between; align-items: center; gap: 24px; }
.systems { margin: 8px 0 0; }
.chip { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; margin-right: 4px; }
.chip.ok { background: var(--ok-bg); color: var(--ok); }
.chip.bad { background: var(--bad-bg); color: var(--bad); }
.verdict { font-size: 44px; font-weight: 800; letter-spacing: .04em; padding: 6px 30px; border-radius: 12px; border: 3px solid; }
.verdict.ok { color: var(--ok); background: var(--ok-bg); border-color: var(--ok); }
.verdict.bad { color: var(--bad); background: var(--bad-bg); border-color: var(--bad); }
.failures { margin-top: 18px; padding: 12px 18px; border-left: 4px solid var(--bad); background: var(--bad-bg); border-radius: 6px; }
.failures h2 { margin: 0 0 4px; font-size: 15px; color: var(--bad); }
.failures ul { margin: 0; padding-left: 20px; }
.command { margin: 18px 0 10px; padding: 12px 14px; background: var(--soft); border: 1px solid var(--line); border-radius: 6px; white-space: pre-wrap; word-break: break-all; font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 14px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); white-space: nowrap; }
tbody th { font-weight: 500; white-space: nowrap; }
.num { text-align: right; white-space: nowrap; }
.figures td { min-width: 150px; }
.figures tr.section th { background: var(--soft); font-weight: 700; font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); padding-top: 8px; }
td.bad { color: var(--bad); font-weight: 700; }
.ratio { color: var(--muted); font-size: 12px; margin-left: 4px; }
.swatch, .key i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px; vertical-align: -1px; }
.note, .muted { color: var(--muted); }
.note { font-size: 13px; }
table.inner th, table.inner td { padding: 2px 10px; font-size: 13px; }
table.inner thead th { border-bottom: 1px solid var(--ink); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 20px; }
figure { margin: 0; padding: 14px 16px 8px; border: 1px solid var(--line); border-radius: 8px; }
figcaption p { margin: 0; color: var(--muted); font-size: 13px; }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 16px; margin: 8px 0 2px; font-size: 13px; }
.key { display: inline-flex; align-items: center; }
.key svg { margin-right: 6px; }
.key .muted { margin-left: 4px; }
.sep { width: 1px; height: 14px; background: var(--line); }
svg { display: block; width: 100%; height: auto; }
svg .grid { stroke: #e6e9ed; stroke-width: 1; }
svg .grid.minor { stroke: #f1f3f5; }
svg .frame { fill: none; stroke: #9aa3ad; stroke-width: 1; }
svg .tick { font-size: 12px; fill: var(--muted); }
svg .axis { font-size: 13px; fill: var(--ink); }
svg .empty { font-size: 14px; fill: var(--muted); }
@media (max-width: 700px) { main { padding: 16px; } .title { flex-direction: column; align-items: flex-start; } .charts { grid-template-columns: 1fr; } }
`;
