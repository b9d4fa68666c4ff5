import { isIPv6 } from 'node:net';
import type { ClusterNode } from 'ioredis';

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

function hostPort(host: string, port: number | string): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

export function redisUrlTarget(url: string): RedisTarget {
  const parsed = new URL(url);
  // The WHATWG parser keeps an IPv6 host's brackets.
  const address = `${parsed.hostname}:${parsed.port || '6379'}`;
  return { variable: 'REDIS_URL', address, label: `Redis at ${address} (REDIS_URL)` };
}

export function clusterTarget(nodes: readonly ClusterNode[]): RedisTarget {
  const address = nodes
    .map((node) => (typeof node === 'object' ? hostPort(node.host ?? '127.0.0.1', node.port ?? 6379) : String(node)))
    .join(',');
  return { variable: 'REDIS_CLUSTER_NODES', address, label: `Redis Cluster at ${address} (REDIS_CLUSTER_NODES)` };
}

/** One master of a cluster, found through REDIS_CLUSTER_NODES. */
export function clusterMasterTarget(node: string): RedisTarget {
  return { variable: 'REDIS_CLUSTER_NODES', address: node, label: `Redis at ${node} (a master of REDIS_CLUSTER_NODES)` };
}

/**
 * Why a connection failed, short: "connect ECONNREFUSED" rather than a stack trace. The address
 * Node adds to a socket error is left out: the target names it already.
 */
export function failureReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { code, syscall } = error as NodeJS.ErrnoException;
  if (typeof code === 'string' && typeof syscall === 'string') return `${syscall} ${code}`;
  // ioredis's "None of startup nodes is available" carries what the last node said.
  const last = (error as { lastNodeError?: unknown }).lastNodeError;
  if (last instanceof Error) return `${withoutStop(error.message)}: ${failureReason(last)}`;
  return withoutStop(error.message);
}

/** ioredis ends some messages with a full stop, which reads badly mid-sentence. */
function withoutStop(message: string): string {
  return message.replace(/\.$/, '');
}
