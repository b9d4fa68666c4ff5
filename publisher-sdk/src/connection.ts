import { Cluster, Redis, type ClusterNode } from 'ioredis';
import { HeraldValidationError } from '@herald/protocol';
import { ClusterShards, SingleRedis, parseClusterNode, type RedisShards } from './storage/index.js';

/** Where a publisher reaches Redis (see PublisherOptions). */
export interface ConnectionOptions {
  readonly redisUrl?: string;
  readonly redis?: Redis;
  readonly cluster?: readonly string[] | Cluster;
}

/** The connections a publisher sends on, and how to let go of those it opened. */
export interface PublisherConnection {
  readonly shards: RedisShards;
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

function quietly<T extends Redis | Cluster>(client: T): T {
  client.on('error', () => {
    // Every failure reaches the caller through the publish it affects.
  });
  return client;
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

function singleRedis(redis: Redis, owned: boolean): PublisherConnection {
  return {
    shards: new SingleRedis(redis),
    close: async () => {
      if (owned) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

function cluster(cluster: Cluster, owned: boolean): PublisherConnection {
  return {
    shards: new ClusterShards(cluster),
    close: async () => {
      if (owned) await cluster.quit().catch(() => cluster.disconnect());
    },
  };
}

/** Options of a cluster client the SDK makes (its nodes' connections as SAFE_NODE_CONNECTION). */
export function safeClusterOptions(): ConstructorParameters<typeof Cluster>[1] {
  // The slot table is read again at every redirection, and every few seconds anyway: a master
  // demoted by a planned failover answers READONLY, not MOVED, to a script that declares no keys.
  return { lazyConnect: true, redisOptions: { ...SAFE_NODE_CONNECTION }, clusterNodeRetryStrategy: null, slotsRefreshInterval: 5000 };
}

export function connect(options: ConnectionOptions): PublisherConnection {
  const given = [options.redis, options.redisUrl, options.cluster].filter((value) => value !== undefined);
  if (given.length > 1) {
    throw new HeraldValidationError('invalid_option', 'give one of redis, redisUrl and cluster', 'redis');
  }
  if (options.cluster instanceof Cluster) {
    refuseKeyPrefix(options.cluster.options.keyPrefix, 'cluster');
    return isSafeCluster(options.cluster)
      ? cluster(options.cluster, false)
      : cluster(quietly(options.cluster.duplicate(undefined, safeClusterOptions())), true);
  }
  if (options.cluster !== undefined) {
    if (!Array.isArray(options.cluster) || options.cluster.length === 0) {
      throw new HeraldValidationError('invalid_option', 'cluster must list at least one node as host:port (or be an ioredis Cluster)', 'cluster');
    }
    const nodes = options.cluster.map(clusterNode);
    return cluster(quietly(new Cluster(nodes, safeClusterOptions())), true);
  }
  if (options.redis) {
    refuseKeyPrefix(options.redis.options.keyPrefix, 'redis');
    // A client with other settings is used for its address and credentials: the SDK opens its own connection like it.
    return isSafeConnection(options.redis)
      ? singleRedis(options.redis, false)
      : singleRedis(quietly(options.redis.duplicate(SAFE_CONNECTION)), true);
  }
  if (typeof options.redisUrl !== 'string' || !/^rediss?:\/\//.test(options.redisUrl)) {
    throw new HeraldValidationError(
      'invalid_option',
      'redisUrl must be a redis:// or rediss:// URL (or pass an ioredis client as redis, or a Redis Cluster as cluster)',
      'redisUrl',
    );
  }
  return singleRedis(quietly(new Redis(options.redisUrl, SAFE_CONNECTION)), true);
}
