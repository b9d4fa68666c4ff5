import { Cluster, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { BroadcastResult, PublishRequest } from '@herald/protocol';
import type { Publisher } from '@herald/publisher-sdk';
import {
  ClusterShards,
  calculateSlot,
  storageLayout,
  type StorageLayout,
} from '@herald/publisher-sdk/storage';
import {
  BrokerMisconfiguredError,
  BrokerUnavailableError,
  type Broker,
  type BrokerHealth,
  type BrokerMessageHandler,
  type ConnectionHandler,
  type RenewedHandler,
} from './broker.js';
import { FailureLog } from './failure-log.js';
import { RedisStore } from './redis-store.js';
import { CONNECTION_CHECKS, nodePublisher, type RedisBrokerSettings } from './redis-settings.js';
import { clusterMasterTarget, clusterTarget, type RedisTarget } from './redis-target.js';
import { StoreBackedBroker, publishRequest } from './store-backed.js';
import { ShardLink } from './shard-link.js';

export interface RedisClusterBrokerOptions extends RedisBrokerSettings {
  /** Some nodes of the cluster (the rest are discovered). */
  readonly nodes: readonly ClusterNode[];
  /** How often the slot table is read again even when nothing was redirected (default 1000 ms). */
  readonly slotsRefreshMs?: number;
}

// Every this many slot table reads (one a second by default), every link's subscriptions are checked.
const VERIFY_EVERY_PLACEMENTS = 10;
// The cluster refusing queries this long (no master that answers says cluster_state:ok) makes the node unready.
const CLUSTER_FAIL_GRACE_MS = 3000;

/**
 * Redis Cluster broker. Each user's keys and channel share one hash tag, so a user lives on the
 * master of one slot: the node subscribes to the user's channel there by sharded pub/sub
 * (SSUBSCRIBE on a connection of its own to that master, a ShardLink), sends the user's history
 * scripts on ioredis's connection to that master (RedisStore), and publishes through the SDK in
 * cluster mode (SPUBLISH, which never leaves the shard).
 *
 * When the slot table changes (a slot migrated, a replica promoted), the subscriptions of the users
 * of each moved slot are made on the new master, and then those users are caught up from history
 * (the hub is told): a message published between the two may never have arrived. When the link to
 * a master drops, only that master's users are affected: once they are subscribed again (on the
 * same master when it comes back, or on the replica promoted in its place) they are caught up the
 * same way. The node stays ready meanwhile; a new socket of such a user waits for its events, and
 * one of a user not followed yet is refused (its subscription cannot be made).
 */
export class RedisClusterBroker extends StoreBackedBroker implements Broker {
  readonly kind = 'redis-cluster';
  private readonly layout: StorageLayout;
  private readonly commands: Cluster;
  protected readonly store: RedisStore;
  private readonly publisher: Publisher;
  private readonly logger: Logger;
  private readonly target: RedisTarget;
  /** Failures of the cluster as a whole (no node it knows answers); each link logs its master's own. */
  private readonly failures: FailureLog;
  private readonly linkOptions: RedisOptions;
  /** One link per master in the slot table, by "host:port". */
  private readonly links = new Map<string, ShardLink>();
  /** Where each followed user's channel is subscribed. */
  private readonly linkOf = new Map<string, ShardLink>();
  /** Followed users by the slot of their channel. */
  private readonly usersBySlot = new Map<number, Set<string>>();
  /** The master of each slot when the subscriptions were last placed. */
  private placedOwners: readonly (string | undefined)[] = [];
  private handler: BrokerMessageHandler | undefined;
  private renewedHandler: RenewedHandler | undefined;
  private started = false;
  private closed = false;
  private placing: Promise<void> = Promise.resolve();
  private placements = 0;
  /** Since when no master that answers has said cluster_state:ok (undefined: one has, at the last check). */
  private refusingSince: number | undefined;

  constructor(options: RedisClusterBrokerOptions) {
    super();
    this.layout = storageLayout(options.channelPrefix);
    this.logger = options.logger;
    this.target = clusterTarget(options.nodes);
    this.failures = new FailureLog({ logger: this.logger, target: this.target, meanwhile: 'retrying, not ready' });
    this.commands = new Cluster([...options.nodes], {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterNodeRetryStrategy: null,
      slotsRefreshInterval: options.slotsRefreshMs ?? 1000,
      redisOptions: {
        // Never resent to the server a reconnection reached: scripts carry the run of the server they were sent to.
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        protocol: 3,
        commandTimeout: options.commandTimeoutMs,
        connectionName: `herald-cmd-${options.nodeId}`,
      },
    });
    this.linkOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      protocol: 3,
      commandTimeout: options.commandTimeoutMs,
      connectionName: `herald-sub-${options.nodeId}`,
    };
    const shards = new ClusterShards(this.commands);
    this.store = new RedisStore(shards, this.layout, options.retention, this.logger);
    this.publisher = nodePublisher(options, { cluster: this.commands });
    this.commands.on('error', (error: Error) => this.failures.failed(error));
    // Emitted at every failed attempt on every node: a master's failures are logged by its link.
    this.commands.on('node error', (error: Error, node: string) => this.logger.debug({ err: error, node }, 'redis cluster node error'));
    this.commands.on('refresh', () => this.placeSubscriptions());
    this.commands.on('ready', () => {
      this.failures.recovered();
      void this.store.publishRetention();
    });
  }

  /**
   * Connects and places the links. A cluster not reachable now is connected later by ioredis
   * (the links are placed at its first slot table); a node that is not in cluster mode is a
   * configuration error.
   */
  async start(): Promise<void> {
    this.started = true;
    await new Promise<void>((resolve, reject) => {
      const onNodeError = (error: Error, node: string) => {
        if (!/cluster support disabled/i.test(error.message)) return;
        this.commands.off('node error', onNodeError);
        reject(
          new BrokerMisconfiguredError(
            `REDIS_CLUSTER_NODES names ${node}, a Redis without cluster mode (${error.message}): set REDIS_URL for one Redis instead`,
          ),
        );
      };
      this.commands.on('node error', onNodeError);
      this.commands.connect().then(resolve, reject).finally(() => this.commands.off('node error', onNodeError));
    }).catch((error: unknown) => {
      if (error instanceof BrokerMisconfiguredError) throw error;
      this.failures.failed(error);
      throw new BrokerUnavailableError(`${this.target.label} is unreachable`, { cause: error });
    });
    this.placeSubscriptions();
    await this.placing;
    await Promise.all([...this.links.values()].map((link) => link.connect()));
    await this.checkClusterState();
    await this.store.publishRetention();
  }

  async subscribe(userId: string): Promise<void> {
    if (this.closed) throw new BrokerUnavailableError('broker is closed');
    const channel = this.layout.userEvents(userId);
    const slot = calculateSlot(channel);
    const link = this.linkForSlot(slot);
    if (!link) throw new BrokerUnavailableError("the cluster's slot table does not name the user's master now");
    this.follow(userId, slot, link);
    try {
      await link.subscribe(channel);
    } catch (error) {
      this.unfollow(userId, slot);
      // Unanswered in time, the SSUBSCRIBE may still run: undo it.
      void link.unsubscribe(channel).catch(() => undefined);
      if (/^MOVED /.test((error as Error).message)) this.commands.refreshSlotsCache();
      throw new BrokerUnavailableError(`subscribing to Redis failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async unsubscribe(userId: string): Promise<void> {
    const channel = this.layout.userEvents(userId);
    const link = this.linkOf.get(userId);
    this.unfollow(userId, calculateSlot(channel));
    await link?.unsubscribe(channel);
  }

  async publish(request: PublishRequest): Promise<BroadcastResult> {
    if (this.closed) throw new BrokerUnavailableError('broker is closed');
    const master = this.linkForSlot(calculateSlot(this.layout.userEvents(request.user_id)));
    // Known not to answer: fail now, certainly unpublished, rather than hold the request for the SDK's deadlines.
    if (master?.health.unavailable) {
      throw new BrokerUnavailableError(`the event was not published: the user's master, ${clusterMasterTarget(master.node).label}, is not answering`);
    }
    return publishRequest(this.publisher, request);
  }

  onMessage(handler: BrokerMessageHandler): void {
    this.handler = handler;
  }

  onConnectionChange(_handler: ConnectionHandler): void {
    // A lost link affects only its master's users: they are renewed (onSubscriptionsRenewed) once back.
  }

  onSubscriptionsRenewed(handler: RenewedHandler): void {
    this.renewedHandler = handler;
  }

  health(): BrokerHealth {
    const { label } = this.target;
    if (this.closed) return { connected: false, detail: 'redis cluster broker is closed', summary: `the broker for ${label} is closed` };
    const links = [...this.links.values()];
    const notReady = links.filter((link) => !link.ready).map((link) => `${link.node} ${describe(link)}`);
    // One master down leaves the others' users served: the node is ready while any master is, and
    // while the cluster serves queries. With too many masters gone the survivors refuse them all
    // (cluster_state:fail); a failover also makes them refuse for about a second, which is not
    // worth taking every node out of its load balancer for.
    const refusing = this.refusingSince !== undefined && Date.now() - this.refusingSince > CLUSTER_FAIL_GRACE_MS;
    const connected = this.commands.status === 'ready' && links.some((link) => link.ready) && !refusing;
    const state = refusing ? ' (no master that answers says cluster_state:ok)' : '';
    const detail =
      notReady.length > 0
        ? `redis cluster: masters not ready: ${notReady.join(', ')}${state}`
        : `redis cluster ${this.commands.status}, ${links.length} masters${state}`;
    return { connected, detail, summary: `${label} ${clusterState(connected, refusing, this.commands.status === 'ready')}` };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.store.close();
    await this.publisher.close();
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.linkOf.clear();
    this.usersBySlot.clear();
    await this.commands.quit().catch(() => this.commands.disconnect());
  }

  private follow(userId: string, slot: number, link: ShardLink): void {
    this.linkOf.get(userId)?.users.delete(userId);
    this.linkOf.set(userId, link);
    link.users.add(userId);
    let users = this.usersBySlot.get(slot);
    if (!users) {
      users = new Set();
      this.usersBySlot.set(slot, users);
    }
    users.add(userId);
  }

  private unfollow(userId: string, slot: number): void {
    this.linkOf.get(userId)?.users.delete(userId);
    this.linkOf.delete(userId);
    const users = this.usersBySlot.get(slot);
    users?.delete(userId);
    if (users?.size === 0) this.usersBySlot.delete(slot);
  }

  private linkForSlot(slot: number): ShardLink | undefined {
    const owner = this.commands.slots[slot]?.[0];
    return owner === undefined ? undefined : this.links.get(owner);
  }

  private dispatch(channel: Buffer, payload: Buffer): void {
    const userId = this.layout.userOfEvents(channel.toString());
    if (userId !== undefined && this.linkOf.has(userId)) this.handler?.(userId, payload);
  }

  /** Brings the links and subscriptions in line with the slot table, one pass at a time. */
  private placeSubscriptions(): void {
    this.enqueue(async () => {
      await this.place();
      await this.checkClusterState();
      // Now and then, every link's subscriptions are checked too (a sunsubscribe may go unnoticed).
      if (++this.placements % VERIFY_EVERY_PLACEMENTS === 0) for (const link of this.links.values()) await this.verify(link);
    });
  }

  /**
   * Redis dropped subscriptions of `link` (a slot moved away from its master), or it may hold
   * fewer than asked for: once the slot table is read again, every user whose subscription is
   * missing is subscribed on its slot's master, whichever it is now (the slot may have come
   * straight back, which no slot table read in between would show), and caught up.
   */
  private verifySoon(link: ShardLink): void {
    this.enqueue(async () => {
      await new Promise<void>((resolve) => this.commands.refreshSlotsCache(() => resolve()));
      await this.place();
      await this.verify(link);
    });
  }

  /** Asks every master whether the cluster serves queries; notes since when none that answers says so. */
  private async checkClusterState(): Promise<void> {
    const links = [...this.links.values()];
    await Promise.all(links.map((link) => link.checkClusterState().catch(() => undefined)));
    if (links.some((link) => link.ready && link.clusterOk)) this.refusingSince = undefined;
    else this.refusingSince ??= Date.now();
  }

  private enqueue(work: () => Promise<void>): void {
    if (!this.started || this.closed) return;
    this.placing = this.placing.then(work).catch((error: unknown) => {
      this.logger.error({ err: error }, 'placing redis cluster subscriptions failed; trying again at the next slot table');
    });
  }

  /** Subscribes again (on their slots' masters now) the users of `link` whose subscription Redis no longer holds, and renews them. */
  private async verify(link: ShardLink): Promise<void> {
    if (this.closed || link.redis.status !== 'ready' || link.restoring || this.links.get(link.node) !== link) return;
    const subscribed = link.subscribedChannels();
    const missing = [...link.users].filter((userId) => !subscribed.has(this.layout.userEvents(userId)));
    if (missing.length === 0) return;
    const placed: string[] = [];
    await Promise.all(
      missing.map(async (userId) => {
        const channel = this.layout.userEvents(userId);
        const slot = calculateSlot(channel);
        const to = this.linkForSlot(slot) ?? link;
        if (this.linkOf.get(userId) !== link) return; // it left, or moved, meanwhile
        if (await this.followOn(to, userId, slot, channel)) placed.push(userId);
      }),
    );
    this.logger.warn({ node: link.node, users: placed.length }, 'redis cluster dropped subscriptions; subscribed again');
    this.renewed(placed);
  }

  private async place(): Promise<void> {
    if (this.closed) return;
    const owners = this.commands.slots.map((nodes) => nodes?.[0]);
    const masters = new Set(owners.filter((owner): owner is string => owner !== undefined));
    for (const master of masters) if (!this.links.has(master)) this.addLink(master);
    // Users of every slot whose master changed since they were placed.
    const moved: string[] = [];
    for (const [slot, users] of this.usersBySlot) {
      const owner = owners[slot];
      if (owner === undefined || owner === this.placedOwners[slot]) continue;
      for (const userId of users) if (this.linkOf.get(userId)?.node !== owner) moved.push(userId);
    }
    this.placedOwners = owners;
    if (moved.length > 0) await this.move(moved);
    for (const [node, link] of this.links) {
      if (masters.has(node)) continue;
      // No longer a master (it failed, or gave its slots away): its users were moved above.
      link.close();
      this.links.delete(node);
    }
  }

  private addLink(node: string): ShardLink {
    const separator = node.lastIndexOf(':');
    const link = new ShardLink(
      node,
      node.slice(0, separator),
      Number(node.slice(separator + 1)),
      this.linkOptions,
      {
        ...CONNECTION_CHECKS,
        onReconnect: (silentForMs) =>
          this.logger.error({ node, silent_ms: silentForMs }, 'redis cluster master silent for too long; reconnecting'),
      },
      {
        message: (channel, payload) => this.dispatch(channel, payload),
        lost: (lost) => this.onLinkLost(lost),
        ready: (ready, reconnected) => {
          if (reconnected) void this.restoreLink(ready);
          else this.verifySoon(ready);
        },
        moved: (moved) => this.verifySoon(moved),
      },
    );
    const failures = new FailureLog({ logger: this.logger, target: clusterMasterTarget(node), meanwhile: 'retrying; its users wait' });
    link.redis.on('error', (error: Error) => failures.failed(error));
    link.redis.on('ready', () => failures.recovered());
    this.links.set(node, link);
    link.connect().catch(() => undefined); // it reconnects by itself; health() tells meanwhile
    return link;
  }

  /** Subscribes the users on their slots' current masters, drops the old subscriptions, then tells the hub. */
  private async move(userIds: readonly string[]): Promise<void> {
    const placed: string[] = [];
    await Promise.all(
      userIds.map(async (userId) => {
        const channel = this.layout.userEvents(userId);
        const slot = calculateSlot(channel);
        const from = this.linkOf.get(userId);
        const to = this.linkForSlot(slot);
        if (!to || to === from) return;
        void from?.unsubscribe(channel).catch(() => undefined);
        if (await this.followOn(to, userId, slot, channel)) placed.push(userId);
      }),
    );
    this.logger.info({ users: placed.length }, 'redis cluster slots moved; subscriptions placed on their new masters');
    this.renewed(placed);
  }

  /** Tells the hub of users subscribed again (those still followed: one that left has nothing to catch up). */
  private renewed(userIds: readonly string[]): void {
    const followed = userIds.filter((userId) => this.linkOf.has(userId));
    if (followed.length > 0 && !this.closed) this.renewedHandler?.(followed);
  }

  /**
   * Follows the user on `to` and subscribes its channel there; false when that failed. The user is
   * then subscribed nowhere: `to` is made again, and its fresh connection restores every
   * subscription of the link (and renews its users).
   */
  private async followOn(to: ShardLink, userId: string, slot: number, channel: string): Promise<boolean> {
    this.follow(userId, slot, to);
    try {
      await to.subscribe(channel);
      return true;
    } catch (error) {
      this.logger.error({ err: error, node: to.node }, 'subscribing a user on its redis cluster master failed; reconnecting');
      to.redis.disconnect(true);
      return false;
    }
  }

  private onLinkLost(link: ShardLink): void {
    this.logger.warn({ node: link.node, users: link.users.size }, 'redis cluster subscriber connection lost; its users wait for it or for its replacement');
    this.commands.refreshSlotsCache();
  }

  private async restoreLink(link: ShardLink): Promise<void> {
    const users = [...link.users];
    link.restoring = true;
    try {
      const channels = users.map((userId) => this.layout.userEvents(userId));
      await Promise.all(channels.map((channel) => link.subscribe(channel)));
      // Users whose last socket left, or who moved, while their channel was being restored.
      const stale = channels.filter((_channel, i) => this.linkOf.get(users[i] as string) !== link);
      await Promise.all(stale.map((channel) => link.unsubscribe(channel)));
      this.logger.info({ node: link.node, channels: channels.length }, 'redis cluster subscriptions restored');
    } catch (error) {
      // Start over on a fresh connection rather than run with a partial set (a moved slot is placed at the next slot table).
      this.logger.error({ err: error, node: link.node }, 'restoring redis cluster subscriptions failed; reconnecting');
      this.commands.refreshSlotsCache();
      link.redis.disconnect(true);
      return;
    } finally {
      link.restoring = false;
    }
    this.renewed(users.filter((userId) => this.linkOf.get(userId) === link));
  }
}

function clusterState(connected: boolean, refusing: boolean, reachable: boolean): string {
  if (connected) return 'is connected';
  if (refusing) return 'refuses queries (cluster_state is not ok)';
  return reachable ? 'is unreachable: none of its masters is ready' : 'is unreachable';
}

function describe(link: ShardLink): string {
  if (link.restoring) return 'restoring subscriptions';
  if (link.health.silent) return 'not answering';
  return link.redis.status;
}
