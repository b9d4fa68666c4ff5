import slotOfKey from 'cluster-key-slot';
import type { Cluster, ClusterNode, Redis } from 'ioredis';

/**
 * Where Herald's commands go: one Redis server, or the masters of a Redis Cluster. A user's keys
 * and channel share one hash tag (layout.ts), so everything about one user goes to one server;
 * scripts are sent on that server's own connection, whose server run they check (server-run.ts).
 */
export interface RedisShards {
  /** True in a cluster: events travel by sharded pub/sub (SPUBLISH, SSUBSCRIBE), which stays on one shard. */
  readonly sharded: boolean;
  /** Commands on keys of no user (the retention policy, receipts); a cluster client routes them itself. */
  readonly shared: Redis | Cluster;
  /**
   * The connection to the server that serves `key` now, or undefined when that is not known
   * (the slot table is being read again).
   */
  connectionFor(key: string): Redis | undefined;
  /** An answer said a slot is served elsewhere (MOVED, ASK): the slot table is read again. */
  redirected(): void;
}

/**
 * A Redis error reply saying that this node does not serve a slot now (it moved, is being
 * migrated, or the node was demoted to a replica by a failover) or that the cluster cannot serve
 * it: the command (or, for a publish script in a cluster, the event) did not run here, and the
 * slot table is worth reading again.
 */
export function isRedirection(error: unknown): boolean {
  return error instanceof Error && /^(MOVED|ASK|TRYAGAIN|READONLY|CLUSTERDOWN|MASTERDOWN) /.test(error.message);
}

/** One Redis server: every command on the one connection. */
export class SingleRedis implements RedisShards {
  readonly sharded = false;

  constructor(readonly shared: Redis) {}

  connectionFor(): Redis {
    return this.shared;
  }

  redirected(): void {}
}

/**
 * A Redis Cluster: commands on a user's keys go to the connection ioredis keeps to the master of
 * their slot (its slot table says which). ioredis never reconnects such a connection (a node's
 * connection that ends is replaced by a new one), so a connection always leads to one server run.
 */
export class ClusterShards implements RedisShards {
  readonly sharded = true;

  constructor(readonly shared: Cluster) {}

  connectionFor(key: string): Redis | undefined {
    const owner = this.shared.slots[calculateSlot(key)]?.[0];
    const connection =
      owner === undefined ? undefined : this.shared.nodes('master').find((node) => nodeKey(node) === owner);
    if (connection === undefined) this.redirected();
    return connection;
  }

  redirected(): void {
    if (this.shared.status === 'ready') this.shared.refreshSlotsCache();
  }
}

/** "host:port", as ioredis names a cluster node in its slot table. */
export function nodeKey(connection: Redis): string {
  return `${connection.options.host ?? '127.0.0.1'}:${connection.options.port ?? 6379}`;
}

/**
 * The Redis Cluster slot (0-16383) of a key or shard channel, hash tags respected. A function of
 * Herald's own, so the package's declarations do not depend on cluster-key-slot's (it has none).
 */
export function calculateSlot(key: string): number {
  return slotOfKey(key);
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/;

/** "host:port" (or "[v6]:port") as an ioredis cluster node; undefined when it is not one. */
export function parseClusterNode(text: unknown): ClusterNode | undefined {
  const match = typeof text === 'string' ? HOST_PORT.exec(text) : null;
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2] ?? '', port };
}
