// A client process: opens its share of the sockets, checks every event each socket receives
// (SocketCheck) and records publish → socket latency. Driven by the coordinator over IPC.
import { performance } from 'node:perf_hooks';
import { SignJWT } from 'jose';
import { newHistogram, recordMs, encode } from '../lib/histograms.mjs';
import { SocketCheck } from '../lib/socket-check.mjs';
import { loadSystem } from '../systems/index.mjs';

const now = () => performance.timeOrigin + performance.now();
const WITHIN_MS = 100;

let system;
let settings;
const sockets = [];
const latency = newHistogram();
const phases = new Map(); // phase -> { histogram, within }
let perSecond = new Map(); // second since t0 -> histogram
let t0 = 0;
let gaps = 0;
let unexpectedCloses = 0;
let reconnects = 0;
let reconnectFailures = 0;
let reconnecting = false;
const reconnectLatency = newHistogram();

function phaseOf(index) {
  let phase = phases.get(index);
  if (!phase) {
    phase = { histogram: newHistogram(), within: 0 };
    phases.set(index, phase);
  }
  return phase;
}

function onEvent(entry, data, id) {
  const receivedAt = now();
  if (!entry.check.accept(data, id) || data.s < 0) return;
  const ms = receivedAt - data.t;
  recordMs(latency, ms);
  const phase = phaseOf(data.s);
  recordMs(phase.histogram, ms);
  if (ms <= WITHIN_MS) phase.within += 1;
  if (t0 > 0) {
    const second = Math.floor((receivedAt - t0) / 1000);
    let histogram = perSecond.get(second);
    if (!histogram) {
      histogram = newHistogram();
      perSecond.set(second, histogram);
    }
    recordMs(histogram, ms);
  }
}

async function sign(userId) {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setExpirationTime('24h')
    .sign(new TextEncoder().encode(settings.secret));
}

async function open(entry, since) {
  return system.openSocket({
    url: entry.url,
    userId: entry.user,
    token: entry.token,
    since,
    onEvent: (data, id) => onEvent(entry, data, id),
    onControl: (frame) => {
      if (frame.type === 'herald.gap') gaps += 1;
    },
    onClose: () => {
      unexpectedCloses += 1;
      entry.handle = undefined;
      if (reconnecting) void reopen(entry);
    },
  });
}

// A socket the server closed comes back as a real client would: at the next entry URL, resuming
// after the last event it has.
async function reopen(entry) {
  const startedAt = now();
  for (let attempt = 0; attempt < 50; attempt++) {
    entry.urlIndex = (entry.urlIndex + 1) % settings.urls.length;
    entry.url = settings.urls[entry.urlIndex];
    try {
      // No event yet: resume from where the first welcome said the socket stood.
      entry.handle = await open(entry, entry.check.lastId ?? entry.since);
      reconnects += 1;
      recordMs(reconnectLatency, now() - startedAt);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200));
    }
  }
  reconnectFailures += 1;
}

async function openAll(assigned, concurrency) {
  const connect = newHistogram();
  const errors = [];
  let failed = 0;
  let next = 0;
  async function lane() {
    while (next < assigned.length) {
      const entry = assigned[next++];
      const startedAt = now();
      try {
        entry.handle = await open(entry, undefined);
        entry.since = entry.handle.since;
        recordMs(connect, now() - startedAt);
      } catch (error) {
        failed += 1;
        if (errors.length < 5) errors.push(error instanceof Error ? error.message : String(error));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, assigned.length) }, lane));
  return { opened: assigned.length - failed, failed, errors, connect: encode(connect) };
}

function tick() {
  if (!process.connected) return;
  const seconds = {};
  const current = Math.floor((now() - t0) / 1000);
  for (const [second, histogram] of perSecond) {
    if (second < current) {
      seconds[second] = encode(histogram);
      perSecond.delete(second);
    }
  }
  let delivered = 0;
  for (const entry of sockets) delivered += entry.check.delivered;
  const within = {};
  for (const [index, phase] of phases) within[index] = phase.within;
  process.send({ type: 'tick', delivered, seconds, phases: within, open: sockets.filter((entry) => entry.handle).length });
}

function finish(sentByUser) {
  const totals = { delivered: 0, duplicated: 0, reordered: 0, leaked: 0, lost: 0 };
  for (const entry of sockets) {
    const { check } = entry;
    totals.delivered += check.delivered;
    totals.duplicated += check.duplicated;
    totals.reordered += check.reordered;
    totals.leaked += check.leaked;
    totals.lost += check.lost(sentByUser[entry.user] ?? []);
  }
  const phaseResults = {};
  for (const [index, phase] of phases) phaseResults[index] = { histogram: encode(phase.histogram), within: phase.within };
  const seconds = {};
  for (const [second, histogram] of perSecond) seconds[second] = encode(histogram);
  perSecond = new Map();
  return {
    ...totals,
    gaps,
    unexpectedCloses,
    reconnects,
    reconnectFailures,
    latency: encode(latency),
    reconnectLatency: encode(reconnectLatency),
    phases: phaseResults,
    seconds,
  };
}

let ticker;
// The coordinator is gone (stopped by a signal, or failed): nothing left to do.
process.on('disconnect', () => process.exit(0));

process.on('message', async (message) => {
  try {
    if (message.type === 'init') {
      settings = message;
      system = await loadSystem(message.system);
      process.send({ type: 'ready' });
    } else if (message.type === 'open') {
      const assigned = [];
      for (const { user, urlIndex } of message.sockets) {
        const entry = { user, urlIndex, url: settings.urls[urlIndex], token: await sign(user), check: new SocketCheck(user, settings.publishers, { kOrdered: settings.kOrdered }), handle: undefined };
        assigned.push(entry);
      }
      sockets.push(...assigned);
      process.send({ type: 'opened', ...(await openAll(assigned, message.concurrency)) });
    } else if (message.type === 'measure') {
      t0 = message.t0;
      reconnecting = message.reconnect;
      ticker ??= setInterval(tick, 1000);
      tick();
    } else if (message.type === 'finish') {
      clearInterval(ticker);
      reconnecting = false;
      process.send({ type: 'result', ...finish(message.sentByUser) });
      for (const entry of sockets) entry.handle?.close();
      setTimeout(() => process.exit(0), 100);
    }
  } catch (error) {
    process.send({ type: 'error', message: error instanceof Error ? error.stack : String(error) });
  }
});
