import type { ClusterNode } from 'ioredis';
import { clusterAddress } from '@herald/publisher-sdk/storage';

/**
 * The Redis a broker was configured with, as logs and answers may show it: the variable that
 * named it and its address. Never its credentials (a REDIS_URL may hold a password).
 */
export interface RedisTarget {
  readonly variable: 'REDIS_URL' | 'REDIS_CLUSTER_NODES';
  /** host:port, or the cluster's configured nodes as host:port,host:port. */
  readonly address: string;
  /** "Redis at 127.0.0.1:6379 (REDIS_URL)". */
  readonly label: string;
}

export function redisUrlTarget(url: string): RedisTarget {
  const parsed = new URL(url);
  // The WHATWG parser keeps an IPv6 host's brackets.
  const address = `${parsed.hostname}:${parsed.port || '6379'}`;
  return { variable: 'REDIS_URL', address, label: `Redis at ${address} (REDIS_URL)` };
}

export function clusterTarget(nodes: readonly ClusterNode[]): RedisTarget {
  const address = clusterAddress(nodes);
  return { variable: 'REDIS_CLUSTER_NODES', address, label: `Redis Cluster at ${address} (REDIS_CLUSTER_NODES)` };
}

/** One master of a cluster, found through REDIS_CLUSTER_NODES. */
export function clusterMasterTarget(node: string): RedisTarget {
  return { variable: 'REDIS_CLUSTER_NODES', address: node, label: `Redis at ${node} (a master of REDIS_CLUSTER_NODES)` };
}
