// A publisher process: publishes to random users on a fixed schedule (lib/schedule.mjs), and
// records publish call → reply latency. Driven by the coordinator over IPC.
import { performance } from 'node:perf_hooks';
import { newHistogram, recordMs, encode } from '../lib/histograms.mjs';
import { sendOnSchedule } from '../lib/schedule.mjs';
import { loadSystem } from '../systems/index.mjs';

const now = () => performance.timeOrigin + performance.now();
// An open loop still needs a bound: beyond this many unanswered publishes, the system is down.
const MAX_IN_FLIGHT = 200_000;

let settings;
let publisher;
let counts;
let pad = '';
let sent = 0;
let sentMeasured = 0;
let failed = 0;
let skipped = 0;
let inFlight = 0;
const errors = [];
const publishLatency = newHistogram();
let cpuAtStart;
let cpuUsedUs = 0;

function publishOne(userIndex, due, phase) {
  if (inFlight >= MAX_IN_FLIGHT) {
    skipped += 1;
    return;
  }
  const user = settings.users[userIndex];
  counts[userIndex] += 1;
  const data = { u: user, p: settings.index, k: counts[userIndex], s: phase, t: due, pad };
  inFlight += 1;
  sent += 1;
  if (phase >= 0) sentMeasured += 1;
  publisher.publish(user, data).then(
    () => {
      inFlight -= 1;
      if (phase >= 0) recordMs(publishLatency, now() - due);
    },
    (error) => {
      inFlight -= 1;
      failed += 1;
      if (errors.length < 5) errors.push(error instanceof Error ? error.message : String(error));
    },
  );
}

async function settle(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

setInterval(() => {
  if (process.connected) process.send({ type: 'tick', sent, failed, inFlight });
}, 1000).unref();

// The coordinator is gone (stopped by a signal, or failed): nothing left to do.
process.on('disconnect', () => process.exit(0));

process.on('message', async (message) => {
  try {
    if (message.type === 'init') {
      settings = message;
      counts = new Array(settings.users.length).fill(0);
      pad = 'x'.repeat(Math.max(0, settings.payloadBytes - JSON.stringify({ u: settings.users[0], p: 0, k: 100000, s: 0, t: now(), pad: '' }).length));
      const system = await loadSystem(settings.system);
      publisher = await system.createPublisher(settings.publishTarget, { path: settings.path });
      process.send({ type: 'ready' });
    } else if (message.type === 'count') {
      process.send({ type: 'count', sent });
    } else if (message.type === 'phase') {
      // Warm-up phases (negative) are not measured.
      if (message.phase >= 0) cpuAtStart ??= process.cpuUsage();
      await sendOnSchedule(message, (dueAt) => publishOne(Math.floor(Math.random() * settings.users.length), dueAt, message.phase));
      process.send({ type: 'phaseDone', phase: message.phase });
    } else if (message.type === 'finish') {
      await settle(10_000);
      const cpu = cpuAtStart ? process.cpuUsage(cpuAtStart) : { user: 0, system: 0 };
      cpuUsedUs = cpu.user + cpu.system;
      const sentByUser = {};
      counts.forEach((count, index) => {
        if (count > 0) sentByUser[settings.users[index]] = count;
      });
      process.send({ type: 'result', sent, sentMeasured, failed, skipped, unanswered: inFlight, errors, cpuUs: cpuUsedUs, publishLatency: encode(publishLatency), sentByUser });
      await publisher.close();
      setTimeout(() => process.exit(0), 100);
    }
  } catch (error) {
    process.send({ type: 'error', message: error instanceof Error ? error.stack : String(error) });
  }
});
