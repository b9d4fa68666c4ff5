// One load test run: start (or reach) the system, open the sockets, publish on schedule, verify
// every delivery, measure what it cost, and return the result the reports render.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { newHistogram, addEncoded, summary, cdf } from './histograms.mjs';
import { ProcessGroup, redisGroupSample, histogramBuckets, bucketQuantiles } from './process-stats.mjs';
import { Children } from './children.mjs';
import { connectRedis, startRedisServer } from './redis-server.mjs';
import { startRedisCluster } from './redis-cluster.mjs';
import { Worker } from './workers.mjs';
import { loadSystem } from '../systems/index.mjs';
import { scenarioPlan } from './scenarios.mjs';
import { verdict } from './verdict.mjs';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const WARMUP_PHASE = -1;

function machine(redisVersion) {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    redis: redisVersion ?? null,
  };
}

async function deliveryLatencyBuckets(metricsUrls) {
  const texts = await Promise.all(metricsUrls.map((url) => fetch(url).then((response) => response.text()).catch(() => '')));
  return histogramBuckets(texts.join('\n'), 'herald_delivery_latency_seconds');
}

/** Runs one scenario against one system; `log` prints progress. */
export async function runLoadTest(options, { log = (line) => process.stderr.write(`${line}\n`), command } = {}) {
  const children = new Children();
  const workers = [];
  let failure;
  const failed = new Promise((_, reject) => {
    failure = reject;
  });
  failed.catch(() => {});
  try {
    return await Promise.race([runInside(options, children, workers, failure, log, command), failed]);
  } finally {
    for (const worker of workers) worker.kill();
    await children.stopAll();
  }
}

async function runInside(options, children, workers, failure, log, command) {
  const plan = scenarioPlan(options);
  const secret = options.secret || randomBytes(32).toString('base64url');
  // One Redis, or with --redis-cluster the nodes of a cluster (measured together).
  const cluster = options.redisCluster > 0 ? await startRedisCluster(children, { masters: options.redisCluster }) : undefined;
  const redisUrl = options.url ? options.redisUrl : cluster ? undefined : await startRedisServer(children);
  const redisServers = cluster ? cluster.nodes.map((node) => node.redis) : redisUrl ? [await connectRedis(redisUrl)] : [];
  const redisSample = redisServers.length ? () => redisGroupSample(redisServers) : undefined;
  const system = await loadSystem(options.system);
  log(`loadtest: ${options.scenario} against ${options.system}${options.url ? ` at ${options.url}` : ''}`);

  const handle = options.url
    ? {
        wsUrls: [options.url],
        pids: [],
        metricsUrls: options.metrics ? options.metrics.split(',') : [],
        publishTarget: { redisUrl, httpUrl: options.url.replace(/^ws/, 'http').replace(/\/ws$/, ''), publishKey: options.publishKey },
        stop: async () => {},
      }
    : await system.start({
        redisUrl,
        redisClusterNodes: cluster?.startupNodes,
        secret,
        nodes: options.fleet || options.nodes,
        fleet: options.fleet > 0,
        ...(options.herald ? { checkout: resolve(options.herald) } : {}),
        nodeArgs: options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${resolve(options.out, 'profiles')}`] : [],
      });
  try {
    const gateway = new ProcessGroup({ pids: handle.pids, metricsUrls: handle.pids.length > 0 ? [] : handle.metricsUrls });
    const baseline = await gateway.sample();

    // Client processes, each with its share of the sockets.
    const clients = Array.from({ length: options.clients }, (_, index) => new Worker('clients.mjs', `client process ${index + 1}`));
    const publishers = Array.from({ length: options.publishers }, (_, index) => new Worker('publisher.mjs', `publisher process ${index + 1}`));
    workers.push(...clients, ...publishers);
    for (const worker of workers) worker.onFailure = failure;
    await Promise.all(clients.map((client) => client.request({ type: 'init', system: options.system, urls: handle.wsUrls, secret, publishers: options.publishers, kOrdered: options.system !== 'herald' }, 'ready')));

    const users = Array.from({ length: options.users }, (_, i) => `user-${i}`);
    const active = [];
    for (const user of users) for (let s = 0; s < options.socketsPerUser; s++) active.push(user);
    const idle = Array.from({ length: options.idle }, (_, i) => `idle-${i}`);
    const share = (list, offset = 0) =>
      clients.map((_, worker) => list.flatMap((user, i) => ((i + offset) % clients.length === worker ? [{ user, urlIndex: (i + offset) % handle.wsUrls.length }] : [])));

    const connectHistogram = newHistogram();
    const connect = { sockets: 0, failed: 0, errors: [] };
    const openShare = async (shares, concurrency) => {
      const replies = await Promise.all(clients.map((client, i) => client.request({ type: 'open', sockets: shares[i], concurrency }, 'opened')));
      const storm = newHistogram();
      for (const reply of replies) {
        connect.sockets += reply.opened;
        connect.failed += reply.failed;
        connect.errors.push(...reply.errors);
        addEncoded(connectHistogram, reply.connect);
        addEncoded(storm, reply.connect);
      }
      return storm;
    };
    log(`loadtest: opening ${active.length} sockets of ${users.length} users${plan.idleUpFront && idle.length ? ` and ${idle.length} idle sockets` : ''}`);
    await openShare(share(active), options.connectConcurrency);
    if (plan.idleUpFront && idle.length) await openShare(share(idle, active.length), options.connectConcurrency);
    const connected = await gateway.sample();
    const openedUpFront = connect.sockets;
    log(`loadtest: ${connect.sockets} sockets open (${connect.failed} failed)`);

    await Promise.all(
      publishers.map((publisher, index) =>
        publisher.request({ type: 'init', system: options.system, publishTarget: handle.publishTarget, path: options.path, index, users, payloadBytes: options.payload }, 'ready'),
      ),
    );

    // Progress, once a second: what was sent and delivered, latency, memory.
    const timeline = [];
    const seconds = new Map();
    const delivered = new Array(clients.length).fill(0);
    const openSockets = new Array(clients.length).fill(0);
    const sent = new Array(publishers.length).fill(0);
    const phaseWithin = new Map();
    const mergeSeconds = (encodedBySecond) => {
      for (const [second, encoded] of Object.entries(encodedBySecond)) {
        let histogram = seconds.get(Number(second));
        if (!histogram) {
          histogram = newHistogram();
          seconds.set(Number(second), histogram);
        }
        addEncoded(histogram, encoded);
      }
    };
    clients.forEach((client, i) =>
      client.on('tick', (tick) => {
        delivered[i] = tick.delivered;
        openSockets[i] = tick.open;
        mergeSeconds(tick.seconds);
        for (const [phase, within] of Object.entries(tick.phases)) {
          const perClient = phaseWithin.get(Number(phase)) ?? new Array(clients.length).fill(0);
          perClient[i] = within;
          phaseWithin.set(Number(phase), perClient);
        }
      }),
    );
    publishers.forEach((publisher, i) => publisher.on('tick', (tick) => (sent[i] = tick.sent)));
    const sum = (values) => values.reduce((a, b) => a + b, 0);
    // What the publishers have sent, asked each time: their own ticks may be up to a second old.
    const countSent = async () => {
      const replies = await Promise.all(publishers.map((publisher) => publisher.request({ type: 'count' }, 'count')));
      replies.forEach((reply, i) => (sent[i] = reply.sent));
    };

    const runPhase = async (phase) => {
      const startAt = now() + 50;
      await Promise.all(
        publishers.map((publisher) =>
          publisher.request({ type: 'phase', phase: phase.index, rate: phase.rate / publishers.length, count: Math.round(phase.count / publishers.length), startAt }, 'phaseDone'),
        ),
      );
    };

    // CPU seconds of every kind of process, to tell what shares the machine's cores.
    const publisherProcesses = new ProcessGroup({ pids: publishers.map((worker) => worker.child.pid) });
    const clientProcesses = new ProcessGroup({ pids: clients.map((worker) => worker.child.pid) });
    const cpuNow = async () => ({
      at: now(),
      gateway: gateway.empty ? null : (await gateway.sample()).cpuSeconds,
      redis: redisSample ? (await redisSample()).cpuSeconds : null,
      publishers: (await publisherProcesses.sample()).cpuSeconds,
      clients: (await clientProcesses.sample()).cpuSeconds,
    });
    /** Cores each kind of process kept busy between two cpuNow() readings. */
    const coresBetween = (from, to) =>
      Object.fromEntries(['gateway', 'redis', 'publishers', 'clients'].map((kind) => [kind, from[kind] === null ? null : Math.round(((to[kind] - from[kind]) / ((to.at - from.at) / 1000)) * 100) / 100]));

    const redisBefore = redisSample ? await redisSample() : undefined;
    if (options.warmup > 0) {
      log(`loadtest: warming up for ${options.warmup} s`);
      await runPhase({ index: WARMUP_PHASE, rate: plan.warmupRate, count: plan.warmupRate * options.warmup });
      await sleep(500);
    }

    const t0 = now() + 100;
    // Each client answers with a tick: what it delivered in the warm-up is the baseline.
    await Promise.all(clients.map((client) => client.request({ type: 'measure', t0, reconnect: plan.reconnect }, 'tick')));
    const gatewayStart = await gateway.sample();
    const redisStart = redisSample ? await redisSample() : undefined;
    const bucketsStart = handle.metricsUrls?.length ? await deliveryLatencyBuckets(handle.metricsUrls) : undefined;
    const cpuStart = await cpuNow();
    const deliveredAtStart = sum(delivered);
    await countSent();
    let lastSent = sum(sent);
    let lastDelivered = deliveredAtStart;
    const progress = setInterval(async () => {
      const t = Math.round((now() - t0) / 1000);
      const [sample] = await Promise.all([gateway.sample(), countSent().catch(() => {})]);
      const totalSent = sum(sent);
      const totalDelivered = sum(delivered);
      const latest = Math.max(-1, ...seconds.keys());
      const latency = latest >= 0 ? summary(seconds.get(latest)) : null;
      timeline.push({ t, sent: totalSent - lastSent, delivered: totalDelivered - lastDelivered, gatewayRssMB: Math.round(sample.rssBytes / 2 ** 20), connections: sum(openSockets) });
      log(
        `  t=${String(t).padStart(3)}s  sent ${String(totalSent).padStart(8)} (+${totalSent - lastSent})  delivered ${String(totalDelivered).padStart(8)} (+${totalDelivered - lastDelivered})  p99 ${latency ? `${latency.p99} ms` : '–'}  gateway RSS ${Math.round(sample.rssBytes / 2 ** 20)} MB  open ${sum(openSockets)}`,
      );
      lastSent = totalSent;
      lastDelivered = totalDelivered;
    }, 1000);

    const context = {
      options,
      log,
      runPhase,
      sleep,
      stopNode: handle.stopNode,
      openIdleStorm: async () => openShare(share(idle, active.length), Math.max(1, Math.ceil(idle.length / clients.length))),
      withinFor: (phase) => sum(phaseWithin.get(phase) ?? []),
      expectedPerEvent: options.socketsPerUser,
      cpuNow,
      coresBetween,
    };
    const extra = await plan.run(context);
    const cpuEnd = await cpuNow();

    // Every event published must arrive; wait while deliveries still come in.
    const sentTotal = await Promise.all(publishers.map((publisher) => publisher.request({ type: 'count' }, 'count'))).then((replies) => sum(replies.map((reply) => reply.sent)));
    const expected = sentTotal * options.socketsPerUser;
    let stalledSince = now();
    let seen = sum(delivered);
    while (sum(delivered) < expected && now() - stalledSince < 5000) {
      await sleep(200);
      if (sum(delivered) !== seen) {
        seen = sum(delivered);
        stalledSince = now();
      }
    }
    await sleep(1100);
    clearInterval(progress);
    const gatewayEnd = await gateway.sample();
    const redisEnd = redisSample ? await redisSample() : undefined;
    const bucketsEnd = bucketsStart ? await deliveryLatencyBuckets(handle.metricsUrls) : undefined;

    const publisherResults = await Promise.all(publishers.map((publisher) => publisher.request({ type: 'finish' }, 'result')));
    const sentByUser = {};
    publisherResults.forEach((result, p) => {
      for (const [user, count] of Object.entries(result.sentByUser)) {
        sentByUser[user] ??= new Array(publishers.length).fill(0);
        sentByUser[user][p] = count;
      }
    });
    const clientResults = await Promise.all(clients.map((client) => client.request({ type: 'finish', sentByUser }, 'result')));
    for (const worker of workers) worker.finished = true;

    // What the run measured.
    const latency = newHistogram();
    const reconnectLatency = newHistogram();
    const publishLatency = newHistogram();
    for (const result of clientResults) {
      addEncoded(latency, result.latency);
      addEncoded(reconnectLatency, result.reconnectLatency);
      mergeSeconds(result.seconds);
    }
    for (const result of publisherResults) addEncoded(publishLatency, result.publishLatency);
    // Latency per second is complete only now: the clients sent their last seconds with their results.
    for (const entry of timeline) {
      const latencyThen = seconds.has(entry.t - 1) ? summary(seconds.get(entry.t - 1)) : null;
      Object.assign(entry, { p50: latencyThen?.p50 ?? null, p99: latencyThen?.p99 ?? null, max: latencyThen?.max ?? null });
    }
    const total = (field) => sum(clientResults.map((result) => result[field]));
    const publishTotal = (field) => sum(publisherResults.map((result) => result[field]));
    const measuredEvents = latency.totalCount;
    const measuredPublished = publishTotal('sentMeasured');

    const delivery = {
      sent: publishTotal('sent'),
      expected,
      delivered: total('delivered'),
      lost: total('lost'),
      duplicated: total('duplicated'),
      reordered: total('reordered'),
      leaked: total('leaked'),
      gaps: total('gaps'),
      publishFailed: publishTotal('failed'),
      publishSkipped: publishTotal('skipped'),
      unexpectedCloses: total('unexpectedCloses'),
      reconnects: total('reconnects'),
      reconnectFailures: total('reconnectFailures'),
    };
    const gatewayCpuSeconds = gatewayEnd.cpuSeconds - gatewayStart.cpuSeconds;
    const legGateway = bucketsStart && bucketsEnd ? bucketQuantiles(bucketsStart, bucketsEnd) : null;
    const round = (value, digits = 2) => (value === null || value === undefined || !Number.isFinite(value) ? null : Math.round(value * 10 ** digits) / 10 ** digits);
    const { failures: scenarioFailures, ...extraFigures } = extra;
    const runVerdict = verdict({ delivery, connect, plan, publishErrors: publisherResults.flatMap((result) => result.errors), scenarioFailures });
    return {
      scenario: options.scenario,
      system: options.system,
      command: command ?? null,
      startedAt: new Date(t0).toISOString(),
      machine: machine(redisBefore?.version),
      options: {
        users: options.users,
        socketsPerUser: options.socketsPerUser,
        idle: options.idle,
        // The knobs this scenario uses; the others' defaults would only mislead.
        ...(options.scenario === 'ramp'
          ? { step: options.step, stepSeconds: options.stepSeconds, maxRate: options.maxRate }
          : options.scenario === 'burst'
            ? { burst: options.burst, bursts: options.bursts, duration: options.duration }
            : { rate: options.rate, duration: options.duration }),
        warmup: options.warmup,
        payload: options.payload,
        publishers: options.publishers,
        clients: options.clients,
        path: options.path,
        nodes: options.fleet || options.nodes,
        fleet: options.fleet > 0,
        ...(options.redisCluster > 0 ? { redisClusterMasters: options.redisCluster } : {}),
      },
      verdict: runVerdict,
      delivery,
      latencyMs: summary(latency),
      legsMs: {
        publish: summary(publishLatency),
        toGateway: legGateway,
        toSocket: summary(latency),
      },
      connect: { sockets: connect.sockets, failed: connect.failed, latencyMs: summary(connectHistogram) },
      cost: {
        gatewayCpuSeconds: round(gatewayCpuSeconds, 3),
        gatewayCpuUsPerEvent: measuredEvents > 0 && !gateway.empty ? round((gatewayCpuSeconds * 1e6) / measuredEvents) : null,
        gatewayRssMB: round(connected.rssBytes / 2 ** 20, 1),
        rssPerConnectionKB: openedUpFront > 0 && !gateway.empty ? round((connected.rssBytes - baseline.rssBytes) / 1024 / openedUpFront) : null,
        redisCpuUsPerEvent: redisStart && redisEnd && measuredPublished > 0 ? round(((redisEnd.cpuSeconds - redisStart.cpuSeconds) * 1e6) / measuredPublished) : null,
        redisMemoryPerEventBytes: redisBefore && redisEnd && options.system === 'herald' ? Math.round((redisEnd.usedMemoryBytes - redisBefore.usedMemoryBytes) / Math.max(1, delivery.sent)) : null,
        publisherCpuUsPerEvent: round(sum(publisherResults.map((result) => result.cpuUs)) / Math.max(1, measuredPublished)),
        // Events per publish script call (the SDK batches per connection, and per slot in a cluster).
        eventsPerScriptCall: redisStart && redisEnd && redisEnd.scriptCalls > redisStart.scriptCalls ? round(measuredPublished / (redisEnd.scriptCalls - redisStart.scriptCalls)) : null,
        /** Cores busy while publishing, by kind of process. */
        cores: coresBetween(cpuStart, cpuEnd),
      },
      timeline,
      cdf: cdf(latency),
      extra: {
        ...extraFigures,
        ...(plan.summarize ? plan.summarize(timeline) : {}),
        ...(reconnectLatency.totalCount > 0 ? { reconnectMs: summary(reconnectLatency) } : {}),
      },
    };
  } finally {
    for (const server of redisServers) server.disconnect();
    await handle.stop();
  }
}
