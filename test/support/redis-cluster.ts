import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { freePort, portIsFree } from './ports.js';
import { waitUntil } from './wait.js';

const HOST = '127.0.0.1';
const SLOTS = 16_384;
/** Each node also listens on its port + 10 000 for the cluster bus. */
const BUS_PORT_OFFSET = 10_000;
const MAX_PORT = 65_535;
const POLL_MS = 50;

export type ClusterRole = 'master' | 'replica';

/** One node as the cluster describes it (CLUSTER NODES). */
export interface ClusterNode {
  readonly port: number;
  readonly id: string;
  readonly role: ClusterRole;
  /** A replica's master; undefined for a master. */
  readonly masterId: string | undefined;
  /** The slot ranges a master serves, [first, last] inclusive (none for a replica). */
  readonly slots: readonly (readonly [number, number])[];
  /** The cluster has flagged it as failed (it was killed or stopped, for instance). */
  readonly failed: boolean;
}

export interface RedisClusterOptions {
  readonly masters?: number;
  readonly replicasPerMaster?: number;
  /** cluster-node-timeout: a node silent this long is failing; a failover takes about twice this (default 1000). */
  readonly nodeTimeoutMs?: number;
  /** Aborting it stops the cluster, also while it is still starting (useRedisCluster uses this). */
  readonly signal?: AbortSignal;
}

export interface RedisCluster {
  /** Every node, as the cluster last described itself to the harness (at start, after waitForFailover, migrateSlot, refresh). */
  readonly nodes: readonly ClusterNode[];
  /** The masters among `nodes`. */
  readonly masters: readonly ClusterNode[];
  /** "host:port" of every node, for `new Cluster(startupNodes)`. */
  readonly startupNodes: readonly string[];
  /** The temporary directory holding every node's nodes.conf and data (removed by stop()). */
  readonly dir: string;
  /** Reads the topology again, once every live node describes it the same way; updates `nodes`. */
  refresh(): Promise<readonly ClusterNode[]>;
  /** The master that every live node names as the owner of a slot, or of the slot a key hashes to (CLUSTER KEYSLOT). */
  masterOf(slotOrKey: number | string): Promise<ClusterNode>;
  /** A new ioredis Cluster client on the startup nodes (the caller quits it; stop() disconnects any left). */
  client(options?: ClusterOptions): Cluster;
  /** A plain connection to one node, no redirections followed (the caller quits it; stop() disconnects any left). */
  nodeClient(port: number): Redis;
  /** Sends a signal to one node's process; SIGSTOP freezes it, SIGCONT resumes it, SIGKILL and SIGTERM resolve once it exited. */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Freezes a replica (SIGSTOP) and drops its master's link to it, so that nothing its master
   * writes from now on reaches it; SIGCONT (kill) lets it go on, and reconnect.
   */
  cutOffReplica(masterPort: number, replicaPort: number): Promise<void>;
  /**
   * Waits until a replica of the master that was on `oldMasterPort` serves its slots, every live node says
   * so and reports cluster_state:ok. Resolves with the new master.
   */
  waitForFailover(oldMasterPort: number, timeoutMs?: number): Promise<ClusterNode>;
  /**
   * Moves a slot, with its keys, to the master on `toMasterPort` the documented way (SETSLOT IMPORTING and
   * MIGRATING, MIGRATE ... REPLACE KEYS in batches, SETSLOT NODE on the target, the source and every other
   * master), so clients may keep writing meanwhile (they follow ASK, then MOVED). Resolves with the number
   * of keys moved, once every live node names the new owner.
   */
  migrateSlot(slot: number, toMasterPort: number, options?: { readonly batch?: number }): Promise<number>;
  /** Kills every node (SIGKILL) and removes the data directory; safe to call more than once, and after a failed start. */
  stop(): Promise<void>;
}

const INSTALL_HINT =
  'redis-server is required by this test and was not found on PATH. Install it ' +
  '(Debian/Ubuntu: apt-get install -y redis-server; .ci/run does this) and run the tests again.';

function assertRedisServerInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8', env: process.env });
  if (probe.error || probe.status !== 0) throw new Error(INSTALL_HINT);
  const version = /v=(\d+)\.(\d+)/.exec(probe.stdout);
  if (version && Number(version[1]) < 7) {
    throw new Error(`the Redis Cluster harness needs redis-server 7.0 or later (sharded pub/sub, ADDSLOTSRANGE); found: ${probe.stdout.trim()}`);
  }
}

/** Runs `work` on a new connection to one node, which it closes after. */
async function onNode<T>(port: number, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    port,
    host: HOST,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
    commandTimeout: 5000,
  });
  redis.on('error', () => undefined); // the awaited command reports it
  try {
    await redis.connect();
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

function command(port: number, ...args: (string | number)[]): Promise<unknown> {
  const [name, ...rest] = args;
  return onNode(port, (redis) => redis.call(String(name), rest));
}

/** `key:value` lines (CLUSTER INFO, INFO) as a map. */
function parseInfo(text: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of String(text).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

interface NodeLine extends ClusterNode {
  readonly flags: readonly string[];
}

/** CLUSTER NODES, without the migrating/importing markers a node shows of its own slots. */
function parseClusterNodes(text: unknown): NodeLine[] {
  return String(text)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const [id = '', address = '', flagList = '', master = '-', , , , , ...slotFields] = line.split(' ');
      const flags = flagList.split(',');
      const port = Number(address.split('@')[0]?.split(':').pop());
      const slots = slotFields
        .filter((field) => !field.startsWith('['))
        .map((field): [number, number] => {
          const [first, last = first] = field.split('-').map(Number);
          return [first ?? 0, last ?? 0];
        });
      return {
        id,
        port,
        role: flags.includes('master') ? 'master' : 'replica',
        masterId: master === '-' ? undefined : master,
        slots,
        failed: flags.includes('fail'),
        flags,
      };
    });
}

/** What every node must agree on, in a stable order. */
function fingerprint(nodes: readonly ClusterNode[]): string {
  return JSON.stringify(
    [...nodes]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((node) => [node.id, node.port, node.role, node.masterId ?? null, node.slots, node.failed]),
  );
}

function serves(node: ClusterNode, slot: number): boolean {
  return node.slots.some(([first, last]) => slot >= first && slot <= last);
}

/** Slot ranges for `masters` masters, split the way redis-cli --cluster create does. */
function slotRanges(masters: number): [number, number][] {
  const perMaster = SLOTS / masters;
  const ranges: [number, number][] = [];
  let first = 0;
  for (let i = 0; i < masters; i++) {
    const last = i === masters - 1 ? SLOTS - 1 : Math.round(perMaster * (i + 1)) - 1;
    ranges.push([first, last]);
    first = last + 1;
  }
  return ranges;
}

/**
 * A detached shell that outlives this process: once the process is gone (a crashed or killed test run)
 * while the cluster's directory still exists (stop() never ran), it kills every node whose pidfile is
 * there and removes the directory. It ends by itself once stop() removed the directory.
 */
function startWatchdog(dir: string): void {
  const script =
    'while kill -0 "$2" 2>/dev/null && [ -d "$1" ]; do sleep 1; done; ' +
    'for f in "$1"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; rm -rf "$1"';
  const watchdog = spawn('sh', ['-c', script, 'redis-cluster-watchdog', dir, String(process.pid)], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}

type ProcessState = 'running' | 'stopped' | 'exited';

interface NodeProcess {
  readonly port: number;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  state: ProcessState;
  output: string;
}

/** Every redis-server process one cluster started, and its data directory. */
class NodeProcesses {
  readonly byPort = new Map<number, NodeProcess>();
  private readonly reserved = new Set<number>();
  private closed = false;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly nodeTimeoutMs: number,
  ) {
    startWatchdog(dir);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ports (and their bus ports) this cluster neither uses nor reserved, and that were free a moment ago. */
  private async pickPort(): Promise<number> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = await freePort();
      const bus = port + BUS_PORT_OFFSET;
      if (bus > MAX_PORT || this.reserved.has(port) || this.reserved.has(bus)) continue;
      if (!(await portIsFree(bus))) continue;
      this.reserved.add(port);
      this.reserved.add(bus);
      return port;
    }
    throw new Error('found no free port whose cluster bus port (+10000) was free too');
  }

  /** Starts one node on a free port (another one if that port was taken meanwhile), answering PING. */
  async launch(): Promise<number> {
    let lastOutput = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await this.pickPort();
      const started = await this.launchOn(port);
      if (started === true) return port;
      lastOutput = started;
      if (!/address already in use/i.test(started)) break;
    }
    throw new Error(`a cluster redis-server did not start:\n${lastOutput}`);
  }

  /** True once it answers PING; what it wrote if it exited first. */
  private async launchOn(port: number): Promise<true | string> {
    if (this.closed) throw new Error('the Redis cluster was stopped while starting');
    const nodeDir = join(this.dir, String(port));
    await mkdir(nodeDir, { recursive: true });
    // stopAll() may have run while the directory was made: it would not know of this node.
    if (this.closed) throw new Error('the Redis cluster was stopped while starting');
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', HOST, '--protected-mode', 'no', '--dir', nodeDir],
        ...['--pidfile', join(this.dir, `${port}.pid`)],
        ...['--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, `nodes-${port}.conf`)],
        ...['--cluster-node-timeout', String(this.nodeTimeoutMs)],
        // A replica may always take over, however long it was cut off (tests freeze nodes on purpose).
        ...['--cluster-replica-validity-factor', '0'],
        ...['--save', '', '--appendonly', 'no'],
        // Replicas sync at once instead of after the default 5 s wait for more replicas.
        ...['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'],
      ],
      // process.env given explicitly: under jest it is the test's own copy, which spawn would not see.
      { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
    );
    const node: NodeProcess = {
      port,
      child,
      state: 'running',
      output: '',
      exited: new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.once('error', (error) => {
          node.output += `\n${String(error)}`; // it did not start, and no 'exit' follows
          resolve();
        });
      }),
    };
    this.byPort.set(port, node);
    child.stdout?.on('data', (chunk: Buffer) => (node.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (node.output += chunk.toString()));
    void node.exited.then(async () => {
      node.state = 'exited';
      // The watchdog must not kill whatever process gets this pid next.
      await unlink(join(this.dir, `${port}.pid`)).catch(() => undefined);
    });
    const answered = await waitUntil(`redis-server on port ${port} to answer PING`, async () => {
      if (node.state === 'exited') return 'exited';
      if (this.closed) return 'closed';
      return (await command(port, 'PING').catch(() => undefined)) === 'PONG' ? 'up' : undefined;
    });
    if (answered === 'closed') throw new Error('the Redis cluster was stopped while starting');
    if (answered === 'exited') {
      this.byPort.delete(port);
      return node.output;
    }
    return true;
  }

  /** Nodes whose process runs and is not frozen: the ones the harness asks. */
  livePorts(): number[] {
    return [...this.byPort.values()].filter((node) => node.state === 'running').map((node) => node.port);
  }

  async signal(port: number, signal: NodeJS.Signals): Promise<void> {
    const node = this.byPort.get(port);
    if (!node) throw new Error(`no cluster node on port ${port}`);
    if (node.state === 'exited') return;
    node.child.kill(signal);
    if (signal === 'SIGSTOP') node.state = 'stopped';
    else if (signal === 'SIGCONT') node.state = 'running';
    else if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') await node.exited;
  }

  /** Polls like waitUntil, but gives up at once when the cluster is stopped. */
  async until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
    const closed = Symbol('closed');
    const value = await waitUntil<T | typeof closed>(what, () => (this.closed ? closed : check()), timeoutMs, POLL_MS);
    if (value === closed) throw new Error(`the Redis cluster was stopped while waiting for ${what}`);
    return value;
  }

  /** What every node wrote, for an error message. */
  outputs(): string {
    return [...this.byPort.values()].map((node) => `--- redis-server :${node.port} (${node.state})\n${node.output.slice(-2000)}`).join('\n');
  }

  stopAll(): Promise<void> {
    this.closed = true;
    this.stopping ??= (async () => {
      await Promise.all(
        [...this.byPort.values()].map(async (node) => {
          if (node.state !== 'exited') node.child.kill('SIGKILL');
          await node.exited;
        }),
      );
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}

/**
 * Starts a real, throwaway Redis Cluster: `masters` masters (3 by default) with `replicasPerMaster`
 * replicas each (1), one redis-server per node on free ports, and resolves once every node reports
 * cluster_state:ok, describes the same topology and every replica is in sync with its master.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masterCount = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  if (!Number.isInteger(masterCount) || masterCount < 1) throw new Error(`masters must be a positive integer, not ${masterCount}`);
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) throw new Error(`replicasPerMaster must be 0 or more, not ${replicasPerMaster}`);
  assertRedisServerInstalled();
  if (options.signal?.aborted) throw new Error('the Redis cluster was stopped before it started');

  const processes = new NodeProcesses(await mkdtemp(join(tmpdir(), 'herald-redis-cluster-')), options.nodeTimeoutMs ?? 1000);
  const onAbort = (): void => void processes.stopAll();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await formCluster(processes, masterCount, replicasPerMaster);
  } catch (error) {
    options.signal?.removeEventListener('abort', onAbort);
    const aborted = options.signal?.aborted === true;
    const detail = aborted ? '' : `\n${processes.outputs()}`;
    await processes.stopAll();
    if (aborted) throw new Error('the Redis cluster was stopped while starting', { cause: error });
    if (error instanceof Error) error.message += detail;
    throw error;
  }
}

async function formCluster(processes: NodeProcesses, masterCount: number, replicasPerMaster: number): Promise<RedisCluster> {
  const total = masterCount * (1 + replicasPerMaster);
  const ports = await Promise.all(Array.from({ length: total }, () => processes.launch()));
  const ids = await Promise.all(ports.map(async (port) => String(await command(port, 'CLUSTER', 'MYID'))));
  const masterPorts = ports.slice(0, masterCount);
  const ranges = slotRanges(masterCount);

  // The masters take their slots; distinct config epochs spare the cluster an epoch collision to settle.
  await Promise.all(
    masterPorts.map((port, i) => {
      const [first, last] = ranges[i] ?? [0, 0];
      return command(port, 'CLUSTER', 'ADDSLOTSRANGE', first, last);
    }),
  );
  await Promise.all(ports.map((port, i) => command(port, 'CLUSTER', 'SET-CONFIG-EPOCH', i + 1)));
  const [first] = ports;
  if (first === undefined) throw new Error('no node started');
  await Promise.all(ports.slice(1).map((port) => command(first, 'CLUSTER', 'MEET', HOST, port)));
  await processes.until(
    `every one of the ${total} nodes to know all the others`,
    async () => {
      const views = await Promise.all(ports.map(async (port) => parseClusterNodes(await command(port, 'CLUSTER', 'NODES'))));
      return views.every(
        (view) => view.length === total && view.every((node) => !node.flags.includes('handshake') && !node.flags.includes('noaddr')),
      );
    },
    20_000,
  );

  // Replica j follows master j % masters.
  await Promise.all(
    ports.slice(masterCount).map((port, j) => command(port, 'CLUSTER', 'REPLICATE', ids[j % masterCount] ?? '')),
  );

  const startupNodes = ports.map((port) => `${HOST}:${port}`);
  const harness = new Harness(processes, startupNodes);
  await processes.until(
    'cluster_state:ok on every node, the same topology everywhere and every replica in sync',
    async () => {
      const states = await Promise.all(ports.map(async (port) => parseInfo(await command(port, 'CLUSTER', 'INFO'))));
      if (!states.every((info) => info.get('cluster_state') === 'ok' && info.get('cluster_known_nodes') === String(total))) return false;
      const nodes = await harness.agreedTopology();
      if (!nodes) return false;
      const replicasInPlace = ports.slice(masterCount).every((port, j) => {
        const node = nodes.find((candidate) => candidate.port === port);
        return node?.role === 'replica' && node.masterId === ids[j % masterCount];
      });
      if (!replicasInPlace) return false;
      const replication = await Promise.all(
        ports.slice(masterCount).map(async (port) => parseInfo(await command(port, 'INFO', 'replication'))),
      );
      return replication.every((info) => info.get('master_link_status') === 'up' && info.get('master_sync_in_progress') === '0');
    },
    30_000,
  );
  return harness;
}

class Harness implements RedisCluster {
  private topology: readonly ClusterNode[] = [];
  private readonly clients = new Set<Cluster | Redis>();

  constructor(
    private readonly processes: NodeProcesses,
    readonly startupNodes: readonly string[],
  ) {}

  get dir(): string {
    return this.processes.dir;
  }

  get nodes(): readonly ClusterNode[] {
    return this.topology;
  }

  get masters(): readonly ClusterNode[] {
    return this.topology.filter((node) => node.role === 'master');
  }

  /** The topology if every live node describes it the same way right now (and remembers it), else undefined. */
  async agreedTopology(): Promise<readonly ClusterNode[] | undefined> {
    const live = this.processes.livePorts();
    if (live.length === 0) throw new Error('no cluster node is running');
    const views = await Promise.all(
      live.map(async (port) => parseClusterNodes(await command(port, 'CLUSTER', 'NODES')).map(({ flags: _flags, ...node }) => node)),
    );
    const [first] = views;
    if (!first || views.some((view) => fingerprint(view) !== fingerprint(first))) return undefined;
    this.topology = [...first].sort((a, b) => a.port - b.port);
    return this.topology;
  }

  refresh(): Promise<readonly ClusterNode[]> {
    return this.processes.until('every live node to describe the same topology', () => this.agreedTopology(), 10_000);
  }

  async masterOf(slotOrKey: number | string): Promise<ClusterNode> {
    const slot = typeof slotOrKey === 'number' ? slotOrKey : await this.keySlot(slotOrKey);
    const nodes = await this.refresh();
    const master = nodes.find((node) => node.role === 'master' && !node.failed && serves(node, slot));
    if (!master) throw new Error(`no live master serves slot ${slot}`);
    return master;
  }

  private async keySlot(key: string): Promise<number> {
    const [port] = this.processes.livePorts();
    if (port === undefined) throw new Error('no cluster node is running');
    return Number(await command(port, 'CLUSTER', 'KEYSLOT', key));
  }

  client(options: ClusterOptions = {}): Cluster {
    const client = new Cluster([...this.startupNodes], options);
    this.clients.add(client);
    client.once('end', () => this.clients.delete(client));
    return client;
  }

  nodeClient(port: number): Redis {
    const client = new Redis({ port, host: HOST });
    this.clients.add(client);
    client.once('end', () => this.clients.delete(client));
    return client;
  }

  kill(port: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return this.processes.signal(port, signal);
  }

  async cutOffReplica(masterPort: number, replicaPort: number): Promise<void> {
    await this.kill(replicaPort, 'SIGSTOP');
    await command(masterPort, 'CLIENT', 'KILL', 'TYPE', 'replica');
  }

  async waitForFailover(oldMasterPort: number, timeoutMs = 15_000): Promise<ClusterNode> {
    const old = this.topology.find((node) => node.port === oldMasterPort);
    if (old?.role !== 'master') throw new Error(`the node on port ${oldMasterPort} was not a master`);
    const replicaIds = new Set(this.topology.filter((node) => node.masterId === old.id).map((node) => node.id));
    if (replicaIds.size === 0) throw new Error(`the master on port ${oldMasterPort} has no replica to take over`);
    const [firstSlot] = old.slots[0] ?? [];
    return this.processes.until(
      `a replica of the master on port ${oldMasterPort} to take over, with cluster_state:ok on every live node`,
      async () => {
        const states = await Promise.all(this.processes.livePorts().map(async (port) => parseInfo(await command(port, 'CLUSTER', 'INFO'))));
        if (!states.every((info) => info.get('cluster_state') === 'ok')) return undefined;
        const nodes = await this.agreedTopology();
        return nodes?.find(
          (node) => replicaIds.has(node.id) && node.role === 'master' && (firstSlot === undefined || serves(node, firstSlot)),
        );
      },
      timeoutMs,
    );
  }

  async migrateSlot(slot: number, toMasterPort: number, options: { readonly batch?: number } = {}): Promise<number> {
    if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) throw new Error(`no such slot: ${slot}`);
    const batch = options.batch ?? 100;
    const nodes = await this.refresh();
    const source = nodes.find((node) => node.role === 'master' && !node.failed && serves(node, slot));
    const target = nodes.find((node) => node.port === toMasterPort);
    if (!source) throw new Error(`no live master serves slot ${slot}`);
    if (target?.role !== 'master' || target.failed) throw new Error(`the node on port ${toMasterPort} is not a live master`);
    if (target.id === source.id) throw new Error(`slot ${slot} is already on port ${toMasterPort}`);

    // The order the Redis documentation gives: the target imports before the source migrates, so a client sent
    // by ASK to the target is never sent back.
    await command(target.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id);
    await command(source.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id);
    let moved = 0;
    const moveKeys = (): Promise<void> =>
      onNode(source.port, async (redis) => {
        for (;;) {
          const keys = (await redis.callBuffer('CLUSTER', ['GETKEYSINSLOT', slot, batch])) as Buffer[];
          if (keys.length === 0) return;
          // Keys written or deleted meanwhile: a key gone by now is skipped (NOKEY), a new one goes to the target (ASK).
          await redis.callBuffer('MIGRATE', [HOST, target.port, '', 0, 5000, 'REPLACE', 'KEYS', ...keys]);
          moved += keys.length;
        }
      });
    await moveKeys();
    // Target first, then the source (which refuses while it still holds keys of the slot), then every other master.
    await command(target.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
    for (let attempt = 0; ; attempt++) {
      try {
        await command(source.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
        break;
      } catch (error) {
        if (attempt >= 5 || !(error instanceof Error) || !/hold keys/i.test(error.message)) throw error;
        await moveKeys();
      }
    }
    const live = new Set(this.processes.livePorts());
    await Promise.all(
      nodes
        .filter((node) => node.role === 'master' && !node.failed && node.id !== source.id && node.id !== target.id && live.has(node.port))
        .map((node) => command(node.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id)),
    );
    await this.processes.until(
      `every live node to name the node on port ${toMasterPort} as the owner of slot ${slot}`,
      async () => {
        const agreed = await this.agreedTopology();
        return agreed?.some((node) => node.id === target.id && serves(node, slot));
      },
      10_000,
    );
    return moved;
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.disconnect();
    this.clients.clear();
    await this.processes.stopAll();
  }
}

/**
 * Starts one Redis Cluster for the enclosing test file (or describe block) and stops it after, also when
 * its start failed or timed out half-way. Returns a getter: the cluster exists only once beforeAll has run.
 */
export function useRedisCluster(options: Omit<RedisClusterOptions, 'signal'> = {}): () => RedisCluster {
  let cluster: RedisCluster | undefined;
  let starting: Promise<unknown> | undefined;
  const abort = new AbortController();
  beforeAll(async () => {
    const start = startRedisCluster({ ...options, signal: abort.signal });
    starting = start.catch(() => undefined);
    cluster = await start;
  }, 60_000);
  afterAll(async () => {
    abort.abort();
    await starting;
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('the Redis cluster is not started yet (use it inside tests or hooks)');
    return cluster;
  };
}
