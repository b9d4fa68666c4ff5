import { Cluster, Redis, type ClusterNode } from 'ioredis';
import { HeraldValidationError } from '@herald/protocol';
import type { ConnectionErrors } from './connection-errors.js';
import { clusterLabel, redisLabel } from './redis-address.js';
import { ClusterShards, SingleRedis, nodeKey, parseClusterNode, type RedisShards } from './storage/index.js';

/** Where a publisher reaches Redis (see PublisherOptions). */
export interface ConnectionOptions {
  readonly redisUrl?: string;
  readonly redis?: Redis;
  readonly cluster?: readonly string[] | Cluster;
}

/** The connections a publisher sends on, and how to let go of those it opened. */
export interface PublisherConnection {
  readonly shards: RedisShards;
  /** Where the publisher sends, as its errors name it: "Redis at host:port" (never credentials). */
  label(): string;
  /** Closes what the publisher opened; leaves a client the caller gave open. */
  close(): Promise<void>;
}

// Commands are only ever written to a ready connection, and the SDK retries them itself: no
// offline queue, no resending by ioredis, in-flight commands fail as soon as the link drops. A
// command ioredis resent on its own after a reconnect would reach a server it was not meant for
// (scripts carry the run id of the server they were sent to: see storage/server-run.ts).
const SAFE_CONNECTION = { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 } as const;
// In a cluster, ioredis queues a node's first commands until that node's connection is made, and
// never reconnects one (it makes a new connection instead): only the resending must be turned off.
const SAFE_NODE_CONNECTION = { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 } as const;

/** Whether an ioredis client given to the SDK already behaves as SAFE_CONNECTION. */
function isSafeConnection(redis: Redis): boolean {
  const { enableOfflineQueue, autoResendUnfulfilledCommands, maxRetriesPerRequest } = redis.options;
  return enableOfflineQueue === false && autoResendUnfulfilledCommands === false && maxRetriesPerRequest === 0;
}

function isSafeCluster(cluster: Cluster): boolean {
  const { redisOptions, clusterNodeRetryStrategy } = cluster.options;
  return (
    redisOptions?.autoResendUnfulfilledCommands === false &&
    redisOptions.maxRetriesPerRequest === 0 &&
    typeof clusterNodeRetryStrategy !== 'function'
  );
}

function refuseKeyPrefix(keyPrefix: string | undefined, what: 'redis' | 'cluster'): void {
  if (!keyPrefix) return;
  throw new HeraldValidationError(
    'invalid_option',
    `the ioredis client has keyPrefix ${JSON.stringify(keyPrefix)}: Herald's keys must be where the gateways read them (they have no key prefix; set channelPrefix on both)`,
    what,
  );
}

function clusterNode(text: unknown): ClusterNode {
  const node = parseClusterNode(text);
  if (!node) {
    throw new HeraldValidationError('invalid_option', `cluster must list Redis Cluster nodes as host:port (got ${JSON.stringify(text)})`, 'cluster');
  }
  return node;
}

/**
 * Closes a connection the publisher made: QUIT when it is ready (what was sent before is answered
 * first), bounded, since a Redis that hangs never answers it; otherwise at once.
 */
export async function closeClient(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }
  client.disconnect();
}

function singleRedis(redis: Redis, owned: boolean, closeTimeoutMs: number): PublisherConnection {
  return {
    shards: new SingleRedis(redis),
    label: () => redisLabel(redis),
    close: async () => {
      if (owned) await closeClient(redis, closeTimeoutMs);
    },
  };
}

function cluster(cluster: Cluster, label: () => string, owned: boolean, closeTimeoutMs: number): PublisherConnection {
  return {
    shards: new ClusterShards(cluster),
    label,
    close: async () => {
      if (owned) await closeClient(cluster, closeTimeoutMs);
    },
  };
}

/** A cluster given as a client names the nodes it knows (none before it first connects). */
function knownNodesLabel(client: Cluster): () => string {
  return () => clusterLabel(client.nodes().map(nodeKey));
}

/** Options of a cluster client the SDK makes (its nodes' connections as SAFE_NODE_CONNECTION). */
export function safeClusterOptions(): ConstructorParameters<typeof Cluster>[1] {
  // The slot table is read again at every redirection, and every few seconds anyway: a master
  // demoted by a planned failover answers READONLY, not MOVED, to a script that declares no keys.
  return { lazyConnect: true, redisOptions: { ...SAFE_NODE_CONNECTION }, clusterNodeRetryStrategy: null, slotsRefreshInterval: 5000 };
}

/**
 * The connections to publish on: the caller's client when it is safe to use as is, otherwise
 * connections the publisher makes (their errors go to `errors`, never to the console).
 */
export function connect(options: ConnectionOptions, errors: ConnectionErrors, closeTimeoutMs: number): PublisherConnection {
  const given = [options.redis, options.redisUrl, options.cluster].filter((value) => value !== undefined);
  if (given.length > 1) {
    throw new HeraldValidationError('invalid_option', 'give one of redis, redisUrl and cluster', 'redis');
  }
  if (options.cluster instanceof Cluster) {
    refuseKeyPrefix(options.cluster.options.keyPrefix, 'cluster');
    if (isSafeCluster(options.cluster)) return cluster(options.cluster, knownNodesLabel(options.cluster), false, closeTimeoutMs);
    const own = options.cluster.duplicate(undefined, safeClusterOptions());
    return cluster(errors.watch(own, knownNodesLabel(own)), knownNodesLabel(own), true, closeTimeoutMs);
  }
  if (options.cluster !== undefined) {
    if (!Array.isArray(options.cluster) || options.cluster.length === 0) {
      throw new HeraldValidationError('invalid_option', 'cluster must list at least one node as host:port (or be an ioredis Cluster)', 'cluster');
    }
    const nodes = options.cluster.map(clusterNode);
    const label = clusterLabel(nodes);
    return cluster(errors.watch(new Cluster(nodes, safeClusterOptions()), () => label), () => label, true, closeTimeoutMs);
  }
  if (options.redis) {
    refuseKeyPrefix(options.redis.options.keyPrefix, 'redis');
    // A client with other settings is used for its address and credentials: the SDK opens its own connection like it.
    if (isSafeConnection(options.redis)) return singleRedis(options.redis, false, closeTimeoutMs);
    const own = options.redis.duplicate(SAFE_CONNECTION);
    return singleRedis(errors.watch(own, () => redisLabel(own)), true, closeTimeoutMs);
  }
  if (typeof options.redisUrl !== 'string' || !/^rediss?:\/\//.test(options.redisUrl)) {
    throw new HeraldValidationError(
      'invalid_option',
      'redisUrl must be a redis:// or rediss:// URL (or pass an ioredis client as redis, or a Redis Cluster as cluster)',
      'redisUrl',
    );
  }
  const own = new Redis(options.redisUrl, SAFE_CONNECTION);
  return singleRedis(errors.watch(own, () => redisLabel(own)), true, closeTimeoutMs);
}
