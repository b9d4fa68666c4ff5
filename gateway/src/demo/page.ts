/**
 * The development demo page: it connects with the client SDK's browser bundle, shows each agent
 * run as a timeline of the golden-path events (latency, delivering node), the connection and its
 * resumes, and publishes simulated runs through POST /v1/publish.
 */

/** What the page needs from the node; embedded in the page as JSON. */
export interface DemoPageSettings {
  readonly nodeId: string;
  /** Where the page gets a token (relative to the page); undefined: the node cannot sign one. */
  readonly tokenPath: string | undefined;
  /** The node's publish key, for the page's run button; undefined: the publish API is off. */
  readonly publishKey: string | undefined;
}

/** JSON that is safe inside a <script> element: `<` never appears raw, so `</script>` cannot either. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

const STYLE = `
  :root {
    color-scheme: dark;
    --bg: #0d1117; --panel: #161b22; --panel-2: #1c2330; --line: #30363d; --text: #e6edf3;
    --muted: #8b949e; --accent: #7c9cff; --ok: #3fb950; --warn: #d29922; --bad: #f85149;
  }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; align-items: center; gap: 16px; padding: 16px 28px; border-bottom: 1px solid var(--line); background: var(--panel); }
  h1 { font-size: 18px; margin: 0; letter-spacing: .02em; }
  h1 span { color: var(--accent); }
  .subtitle { color: var(--muted); }
  .spacer { flex: 1; }
  .pill { display: inline-flex; align-items: center; gap: 8px; padding: 4px 12px; border-radius: 999px; background: var(--panel-2); border: 1px solid var(--line); font-weight: 600; }
  .pill::before { content: ""; width: 9px; height: 9px; border-radius: 50%; background: var(--muted); }
  .pill[data-state="open"]::before { background: var(--ok); box-shadow: 0 0 8px var(--ok); }
  .pill[data-state="connecting"]::before, .pill[data-state="reconnecting"]::before { background: var(--warn); }
  .pill[data-state="closed"]::before, .pill[data-state="unauthorized"]::before { background: var(--bad); }
  button { font: inherit; font-weight: 600; color: #0d1117; background: var(--accent); border: 0; border-radius: 8px; padding: 9px 18px; cursor: pointer; }
  button:disabled { opacity: .5; cursor: default; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) 340px; gap: 24px; padding: 24px 28px; }
  .facts { display: grid; grid-template-columns: auto 1fr; gap: 6px 14px; margin: 0; }
  .facts dt { color: var(--muted); }
  .facts dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
  aside section, .run, .empty { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 16px 18px; margin-bottom: 16px; }
  aside h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .08em; color: var(--muted); margin: 0 0 12px; }
  .empty { color: var(--muted); text-align: center; padding: 48px 18px; }
  .run-head { display: flex; align-items: baseline; gap: 12px; margin-bottom: 18px; }
  .run-head strong { font-size: 15px; }
  .run-head .status { margin-left: auto; color: var(--muted); font-size: 12px; }
  .run[data-complete="true"] .run-head .status { color: var(--ok); }
  .timeline { display: grid; grid-template-columns: repeat(5, 1fr); position: relative; }
  .step { position: relative; padding-top: 30px; text-align: center; }
  .step::before { content: ""; position: absolute; top: 10px; left: 0; right: 0; height: 2px; background: var(--line); }
  .step:first-child::before { left: 50%; }
  .step:last-child::before { right: 50%; }
  .step[data-state="done"]::before { background: var(--accent); }
  .dot { position: absolute; top: 2px; left: calc(50% - 9px); width: 18px; height: 18px; border-radius: 50%; background: var(--panel); border: 2px solid var(--line); z-index: 1; }
  .step[data-state="done"] .dot { background: var(--accent); border-color: var(--accent); box-shadow: 0 0 10px rgba(124,156,255,.6); }
  .step .label { font-weight: 600; }
  .step[data-state="pending"] .label { color: var(--muted); }
  .step .meta { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; min-height: 36px; }
  .step .latency { color: var(--text); }
  .step .detail { font-size: 12px; color: var(--muted); margin-top: 4px; padding: 0 6px; overflow-wrap: anywhere; }
  .other { margin-top: 12px; color: var(--muted); font-size: 12px; }
  #log { list-style: none; margin: 0; padding: 0; max-height: 420px; overflow: auto; font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
  #log li { padding: 3px 0; border-bottom: 1px solid #21262d; }
  #log time { color: var(--muted); margin-right: 6px; }
  #log .warn { color: var(--warn); }
  #log .bad { color: var(--bad); }
  .notice { color: var(--warn); margin: 0 0 12px; }
  .notice:empty { display: none; }
  .hint { color: var(--muted); margin: 0 0 16px; }
`;

const SCRIPT = `
import { connect, GOLDEN_PATH_EVENT_TYPES } from './herald-client.esm.js';

const settings = JSON.parse(document.getElementById('herald-demo-settings').textContent);
const base = new URL('.', location.href);
const LABELS = {
  agent_started: 'Started', agent_thinking: 'Thinking', tool_executing: 'Tool executing',
  tool_completed: 'Tool completed', agent_completed: 'Completed',
};
const $ = (id) => document.getElementById(id);
const stats = { events: 0, resumes: 0, gaps: 0, connections: 0 };
let node = '—';
let userId;
/** Between a reconnection's welcome and its herald.resumed, events come from history. */
let replaying = false;

function log(text, level = '') {
  const item = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  item.append(time, text);
  if (level) item.className = level;
  $('log').prepend(item);
}

function showStats() {
  $('events').textContent = String(stats.events);
  $('resumes').textContent = String(stats.resumes);
  $('gaps').textContent = String(stats.gaps);
  $('connections').textContent = String(stats.connections);
  $('node').textContent = node;
}

const runs = new Map();
function runCard(runId) {
  let run = runs.get(runId);
  if (run) return run;
  $('empty')?.remove();
  const card = document.createElement('article');
  card.className = 'run';
  card.dataset.runId = runId;
  const head = document.createElement('div');
  head.className = 'run-head';
  const title = document.createElement('strong');
  title.textContent = runId;
  const status = document.createElement('span');
  status.className = 'status';
  status.textContent = 'running…';
  head.append(title, status);
  const timeline = document.createElement('div');
  timeline.className = 'timeline';
  const steps = new Map();
  for (const type of GOLDEN_PATH_EVENT_TYPES) {
    const step = document.createElement('div');
    step.className = 'step';
    step.dataset.step = type;
    step.dataset.state = 'pending';
    step.innerHTML = '<span class="dot"></span><div class="label"></div><div class="meta"></div><div class="detail"></div>';
    step.querySelector('.label').textContent = LABELS[type];
    timeline.append(step);
    steps.set(type, step);
  }
  const other = document.createElement('div');
  other.className = 'other';
  card.append(head, timeline, other);
  $('run-list').prepend(card);
  run = { card, steps, status, other };
  runs.set(runId, run);
  return run;
}

function describe(event) {
  const data = event.data ?? {};
  return data.tool ?? data.thought ?? data.answer ?? data.model ?? '';
}

function render(event) {
  stats.events += 1;
  const latency = Math.max(0, Date.now() - event.ts);
  const run = runCard(event.run_id ?? '(no run id)');
  const step = run.steps.get(event.type);
  if (!step) {
    const line = document.createElement('div');
    line.textContent = event.type + ' · ' + latency + ' ms · via ' + node;
    run.other.append(line);
  } else {
    step.dataset.state = 'done';
    step.dataset.eventId = event.id;
    step.dataset.node = node;
    const meta = step.querySelector('.meta');
    meta.innerHTML = '<span class="latency"></span><br><span class="via"></span>';
    meta.querySelector('.latency').textContent = latency + ' ms' + (replaying ? ' · from history' : '');
    meta.querySelector('.via').textContent = 'via ' + node + ' · #' + event.id.split('-').pop();
    step.querySelector('.detail').textContent = String(describe(event)).slice(0, 80);
  }
  if (event.type === 'agent_completed') {
    run.card.dataset.complete = 'true';
    run.status.textContent = 'completed';
  }
  showStats();
}

const tokenUrl = settings.tokenPath && new URL(settings.tokenPath, base);
const pageToken = new URLSearchParams(location.search).get('token');
const getToken = pageToken
  ? () => pageToken
  : async () => {
      const response = await fetch(tokenUrl, { cache: 'no-store' });
      if (!response.ok) throw new Error('token request failed: ' + response.status);
      return (await response.json()).token;
    };

if (!pageToken && !tokenUrl) {
  $('notice').textContent = 'This node verifies tokens with a public key and cannot sign one: open this page with ?token=<a JWT for your user>.';
  $('state').textContent = 'no token';
  $('state').dataset.state = 'closed';
} else {
  const url = () => {
    const ws = new URL('ws', base);
    ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
    return ws.href;
  };
  const client = connect({ url, getToken, reconnect: { initialDelayMs: 250, maxDelayMs: 2000 } });
  window.heraldDemoClient = client;
  client.on('state', (state) => {
    $('state').textContent = state;
    $('state').dataset.state = state;
    log('state: ' + state, state === 'open' ? '' : 'warn');
  });
  client.on('welcome', (welcome) => {
    replaying = stats.connections > 0;
    node = welcome.node;
    userId = welcome.user_id;
    stats.connections += 1;
    $('user').textContent = userId;
    log('connected to ' + welcome.node + ' as ' + welcome.user_id);
    showStats();
  });
  client.on('resumed', (resumed) => {
    replaying = false;
    stats.resumes += 1;
    log('resumed after ' + resumed.since + ': ' + resumed.replayed + ' event(s) from history');
    showStats();
  });
  client.on('gap', (gap) => {
    stats.gaps += 1;
    log('gap: events after ' + gap.since + ' are no longer in history', 'bad');
    showStats();
  });
  client.on('close', (info) => log('socket closed: ' + info.code + (info.reason ? ' ' + info.reason : ''), 'warn'));
  client.on('error', (error) => log('error: ' + (error.message ?? String(error)), 'bad'));
  client.on('event', render);
}

const STEPS = [
  ['agent_started', { model: 'demo-model', prompt: 'Find the cheapest flight to Lisbon' }],
  ['agent_thinking', { thought: 'I should search current fares' }],
  ['tool_executing', { tool: 'flight_search', input: { to: 'LIS' } }],
  ['tool_completed', { tool: 'flight_search', output: { cheapest: 'EUR 89' } }],
  ['agent_completed', { answer: 'EUR 89 on Tuesday' }],
];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Publishes with an idempotency key and retries (about 7 s in all): a retry never publishes the event twice. */
const PUBLISH_ATTEMPTS = 8;
async function publish(body) {
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(new URL('v1/publish', base), {
        method: 'POST',
        headers: { authorization: 'Bearer ' + settings.publishKey, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (response.ok) return;
      if (response.status < 500 || attempt === PUBLISH_ATTEMPTS) throw new Error('publish answered ' + response.status + ': ' + (await response.text()));
    } catch (error) {
      if (attempt === PUBLISH_ATTEMPTS) throw error;
    }
    await sleep(250 * attempt);
  }
}

let runCount = 0;
async function simulateRun() {
  runCount += 1;
  const runId = 'run-' + runCount + '-' + Date.now().toString(36);
  log('publishing ' + runId);
  try {
    for (const [type, data] of STEPS) {
      await publish({ user_id: userId, type, run_id: runId, data, idempotency_key: runId + ':' + type });
      await sleep(300 + Math.random() * 400);
    }
  } catch (error) {
    log('publishing ' + runId + ' failed: ' + error.message, 'bad');
  }
}

if (settings.publishKey && (pageToken || tokenUrl)) {
  $('run').addEventListener('click', () => {
    if (userId === undefined) return log('not connected yet', 'warn');
    void simulateRun();
  });
} else {
  $('run').disabled = true;
  $('run').title = settings.publishKey ? 'Not connected: this page has no token' : 'The publish API is off on this node (HERALD_PUBLISH_KEY)';
}
showStats();
`;

/** The page, with its settings embedded. */
export function demoPage(settings: DemoPageSettings): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald · live agent runs</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
<script id="herald-demo-settings" type="application/json">${scriptJson(settings)}</script>
</head>
<body>
<header>
  <h1><span>Herald</span> live agent runs</h1>
  <span class="subtitle">development page, served by ${escapeHtml(settings.nodeId)}</span>
  <span class="spacer"></span>
  <span class="pill" id="state" data-state="connecting">connecting</span>
  <button id="run" type="button">Run a simulated agent</button>
</header>
<main>
  <section id="runs">
    <p class="notice" id="notice"></p>
    <p class="hint">Each dot is an event as it reached this page: the time from publish to page, the gateway node
    that delivered it and its number in the user's stream. Stop the node and the page resumes on another one.</p>
    <div id="run-list">
      <div class="empty" id="empty">No runs yet. Press <b>Run a simulated agent</b>, or publish to this user through
    <code>POST /v1/publish</code>: its events appear here as they arrive.</div>
    </div>
  </section>
  <aside>
    <section>
      <h2>Connection</h2>
      <dl class="facts">
        <dt>User</dt><dd id="user">—</dd>
        <dt>Node</dt><dd id="node">—</dd>
        <dt>Connections</dt><dd id="connections">0</dd>
        <dt>Resumes</dt><dd id="resumes">0</dd>
        <dt>Gaps</dt><dd id="gaps">0</dd>
        <dt>Events</dt><dd id="events">0</dd>
      </dl>
    </section>
    <section>
      <h2>Log</h2>
      <ul id="log"></ul>
    </section>
  </aside>
</main>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
