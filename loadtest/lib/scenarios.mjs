// What each scenario does once the sockets are open and the publishers warmed up. `run(context)`
// drives the publishers (context.runPhase) and returns the scenario's own figures (and failures).
import { performance } from 'node:perf_hooks';
import { summary } from './histograms.mjs';

const WITHIN_SHARE = 0.999;

function steady(options) {
  return {
    warmupRate: options.rate,
    idleUpFront: true,
    reconnect: false,
    async run({ runPhase }) {
      await runPhase({ index: 0, rate: options.rate, count: options.rate * options.duration });
      return {};
    },
  };
}

function soak(options) {
  const plan = steady(options);
  return {
    ...plan,
    /** Memory and latency of the first and last tenth of the run: flat means alike. */
    summarize(everySecond) {
      // The seconds of publishing; not the wait for the last deliveries after it.
      const timeline = everySecond.filter((row) => row.sent > 0);
      const tenth = Math.max(1, Math.floor(timeline.length / 10));
      const mean = (rows, field) => {
        const values = rows.map((row) => row[field]).filter((value) => typeof value === 'number');
        return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
      };
      const first = timeline.slice(0, tenth);
      const last = timeline.slice(-tenth);
      const rssFirst = mean(first, 'gatewayRssMB');
      const rssLast = mean(last, 'gatewayRssMB');
      return {
        rssFirstTenthMB: rssFirst,
        rssLastTenthMB: rssLast,
        rssGrowthPercent: rssFirst && rssLast !== null ? Math.round(((rssLast - rssFirst) / rssFirst) * 1000) / 10 : null,
        p99FirstTenthMs: mean(first, 'p99'),
        p99LastTenthMs: mean(last, 'p99'),
      };
    },
  };
}

function burst(options) {
  return {
    warmupRate: Math.min(options.rate, options.burst),
    idleUpFront: true,
    reconnect: false,
    async run({ runPhase, sleep }) {
      const gapMs = (options.duration * 1000) / options.bursts;
      for (let i = 0; i < options.bursts; i++) {
        const started = performance.now();
        await runPhase({ index: i, rate: 0, count: options.burst });
        await sleep(Math.max(0, gapMs - (performance.now() - started)));
      }
      return { burstEvents: options.burst, bursts: options.bursts };
    },
  };
}

function ramp(options) {
  return {
    warmupRate: Math.min(options.rate, options.step),
    idleUpFront: true,
    reconnect: false,
    async run({ runPhase, sleep, withinFor, expectedPerEvent, log, cpuNow, coresBetween }) {
      const steps = [];
      let best = null;
      for (let index = 0, rate = options.step; rate <= options.maxRate; index++, rate += options.step) {
        const count = rate * options.stepSeconds;
        const cpuBefore = await cpuNow();
        await runPhase({ index, rate, count });
        const cores = coresBetween(cpuBefore, await cpuNow());
        await sleep(1500);
        const share = withinFor(index) / (count * expectedPerEvent);
        steps.push({ rate, withinShare: Math.round(share * 100_000) / 1000, cores });
        log(`loadtest: ${rate} events/s: ${(share * 100).toFixed(3)}% within 100 ms`);
        if (share < WITHIN_SHARE) break;
        best = rate;
      }
      return { maxRateWithin100ms: best, steps };
    },
  };
}

function connectStorm(options) {
  return {
    warmupRate: options.rate,
    idleUpFront: false,
    reconnect: false,
    async run({ runPhase, sleep, openIdleStorm }) {
      const publishing = runPhase({ index: 0, rate: options.rate, count: options.rate * options.duration });
      await sleep(1000);
      const storm = await openIdleStorm();
      await publishing;
      return { stormSockets: storm.totalCount, stormConnectMs: summary(storm) };
    },
  };
}

function reconnectStorm(options) {
  return {
    warmupRate: options.rate,
    idleUpFront: true,
    reconnect: true,
    async run({ runPhase, sleep, stopNode, log }) {
      if (!stopNode) return { failures: ['reconnect-storm needs a fleet the tool started (it stops one of its nodes)'] };
      const publishing = runPhase({ index: 0, rate: options.rate, count: options.rate * options.duration });
      await sleep((options.duration * 1000) / 3);
      const signal = options.kill ? 'SIGKILL' : 'SIGTERM';
      log(`loadtest: stopping node 1 with ${signal}`);
      const stoppedAt = performance.now();
      await stopNode(0, signal);
      const stopMs = Math.round(performance.now() - stoppedAt);
      await publishing;
      return { stoppedNode: 1, signal, nodeStopMs: stopMs };
    },
  };
}

const PLANS = { steady, soak, burst, ramp, 'connect-storm': connectStorm, 'reconnect-storm': reconnectStorm };

export function scenarioPlan(options) {
  return PLANS[options.scenario](options);
}
