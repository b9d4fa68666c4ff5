import { isIPv6 } from 'node:net';
import type { ClusterNode, Redis } from 'ioredis';

function hostPort(host: string, port: number | string): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/**
 * "Redis at 10.0.0.5:6379": the server a connection leads to, as errors name it. Read from the
 * connection's parsed options, so a URL's credentials are never part of it.
 */
export function redisLabel(redis: Redis): string {
  const { path, host, port } = redis.options;
  return `Redis at ${path ?? hostPort(host ?? 'localhost', port ?? 6379)}`;
}

/** "10.0.0.1:7000,10.0.0.2:7000": a cluster's nodes as they were given. */
export function clusterAddress(nodes: readonly ClusterNode[]): string {
  return nodes.map((node) => (typeof node === 'object' ? hostPort(node.host ?? 'localhost', node.port ?? 6379) : String(node))).join(',');
}

/** "Redis Cluster at 10.0.0.1:7000,10.0.0.2:7000", from the nodes it was given. */
export function clusterLabel(nodes: readonly ClusterNode[]): string {
  return nodes.length === 0 ? 'Redis Cluster' : `Redis Cluster at ${clusterAddress(nodes)}`;
}

/**
 * Why a connection failed, in a few words: "connect ECONNREFUSED" rather than a stack trace (the
 * address Node adds to a socket error is left out: the label names it).
 */
export function failureReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { code, syscall } = error as NodeJS.ErrnoException;
  if (typeof code === 'string' && typeof syscall === 'string') return `${syscall} ${code}`;
  const last = (error as { lastNodeError?: unknown }).lastNodeError;
  const message = error.message.replace(/\.$/, '');
  return last instanceof Error ? `${message}: ${failureReason(last)}` : message;
}
