// What the systems under test cost: CPU and RSS of their processes (from /proc, or from a node's
// /metrics when the fleet is remote), and Redis's CPU and memory (INFO).
import { readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;

/** CPU seconds (user + system) a local process has used. */
function procCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces but ends with the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

function procRssBytes(pid) {
  const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
  return Number(statm[1]) * PAGE_BYTES;
}

function metricValue(text, name) {
  const line = text.split('\n').find((row) => row.startsWith(`${name} `) || row.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * Reads CPU and RSS of the gateway processes: local pids, or /metrics URLs of remote nodes
 * (process_cpu_seconds_total and process_resident_memory_bytes).
 */
export class ProcessGroup {
  constructor({ pids = [], metricsUrls = [] }) {
    this.pids = pids;
    this.metricsUrls = metricsUrls;
    this.lastCpu = new Map();
  }

  get empty() {
    return this.pids.length === 0 && this.metricsUrls.length === 0;
  }

  /** { cpuSeconds, rssBytes } summed over the group. */
  async sample() {
    let cpuSeconds = 0;
    let rssBytes = 0;
    for (const pid of this.pids) {
      try {
        const cpu = procCpuSeconds(pid);
        this.lastCpu.set(pid, cpu);
        cpuSeconds += cpu;
        rssBytes += procRssBytes(pid);
      } catch {
        // The process is gone (a node stopped by the scenario): what it used until its last
        // reading (at most a second old) still counts; it holds no memory any more.
        cpuSeconds += this.lastCpu.get(pid) ?? 0;
      }
    }
    for (const url of this.metricsUrls) {
      const text = await fetch(url).then((response) => response.text()).catch(() => '');
      cpuSeconds += metricValue(text, 'process_cpu_seconds_total') ?? 0;
      rssBytes += metricValue(text, 'process_resident_memory_bytes') ?? 0;
    }
    return { cpuSeconds, rssBytes };
  }
}

function infoField(info, name) {
  const match = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return match ? match[1].trim() : undefined;
}

/** Redis's CPU seconds, memory, version and script calls (EVALSHA and EVAL). */
export async function redisSample(redis) {
  const [info, commandstats] = await Promise.all([redis.info(), redis.info('commandstats')]);
  const calls = (name) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(commandstats)?.[1] ?? 0);
  return {
    cpuSeconds: Number(infoField(info, 'used_cpu_sys')) + Number(infoField(info, 'used_cpu_user')),
    usedMemoryBytes: Number(infoField(info, 'used_memory')),
    version: infoField(info, 'redis_version'),
    scriptCalls: calls('evalsha') + calls('eval'),
  };
}

/** redisSample summed over several servers (the nodes of a Redis Cluster). */
export async function redisGroupSample(servers) {
  const samples = await Promise.all(servers.map(redisSample));
  const sum = (field) => samples.reduce((total, sample) => total + sample[field], 0);
  return { cpuSeconds: sum('cpuSeconds'), usedMemoryBytes: sum('usedMemoryBytes'), version: samples[0]?.version, scriptCalls: sum('scriptCalls') };
}

/** Buckets of a Prometheus histogram from a /metrics text: [[upper bound s, cumulative count]…]. */
export function histogramBuckets(text, name) {
  const buckets = new Map();
  const pattern = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"(?:,.*)?\\} (\\S+)$`, 'gm');
  for (const match of text.matchAll(pattern)) {
    const le = match[1] === '+Inf' ? Infinity : Number(match[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]));
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]);
}

/** Quantiles (ms) of the difference between two bucket snapshots, interpolated within buckets. */
export function bucketQuantiles(before, after) {
  const counts = after.map(([le, count], i) => [le, count - (before[i]?.[1] ?? 0)]);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const at = (q) => {
    const rank = q * total;
    let lower = 0;
    let below = 0;
    for (const [le, cumulative] of counts) {
      if (cumulative >= rank) {
        if (le === Infinity) return lower * 1000;
        const inBucket = cumulative - below;
        const fraction = inBucket === 0 ? 1 : (rank - below) / inBucket;
        return Math.round((lower + (le - lower) * fraction) * 1e6) / 1000;
      }
      lower = le;
      below = cumulative;
    }
    return lower * 1000;
  };
  return { count: total, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: null };
}
