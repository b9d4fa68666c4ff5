import { Redis, type RedisOptions } from 'ioredis';
import { ConnectionHealth, type ConnectionHealthOptions } from './connection-health.js';

export interface ShardLinkEvents {
  /** A sharded message arrived on one of the link's channels. */
  message(channel: Buffer, payload: Buffer): void;
  /** The connection was lost: its subscriptions are gone until `restore`. */
  lost(link: ShardLink): void;
  /**
   * The connection is ready: after a loss (`reconnected`), the owner restores its subscriptions;
   * at the first connection, it checks the subscriptions that may have been asked for before.
   */
  ready(link: ShardLink, reconnected: boolean): void;
  /** Redis dropped subscriptions of this link by itself (their slot moved away). */
  moved(link: ShardLink): void;
}

/**
 * One subscriber connection to one master of a Redis Cluster, for the sharded channels (SSUBSCRIBE,
 * one per call: a call's channels must share a slot) of the users whose slots that master serves.
 * The link never resubscribes by itself: its owner decides what belongs where after a reconnect.
 */
export class ShardLink {
  readonly redis: Redis;
  readonly health: ConnectionHealth;
  /** Users whose channels are subscribed here, or are being. */
  readonly users = new Set<string>();
  /** Subscriptions are being restored after a reconnect. */
  restoring = false;
  /** Whether the master said, at the last check, that the cluster serves queries (cluster_state:ok). */
  clusterOk = false;
  private hasBeenReady = false;
  private connecting: Promise<void> | undefined;
  private closed = false;

  constructor(
    /** "host:port", as the cluster's slot table names the master. */
    readonly node: string,
    host: string,
    port: number,
    options: RedisOptions,
    health: Omit<ConnectionHealthOptions, 'requirePrimary'>,
    events: ShardLinkEvents,
  ) {
    this.redis = new Redis({ ...options, host, port, lazyConnect: true, autoResubscribe: false });
    this.health = new ConnectionHealth(this.redis, health);
    this.redis.on('smessageBuffer', (channel: Buffer, payload: Buffer) => events.message(channel, payload));
    this.redis.on('ready', () => {
      events.ready(this, this.hasBeenReady);
      this.hasBeenReady = true;
    });
    this.redis.on('close', () => {
      if (this.hasBeenReady && !this.closed) events.lost(this);
    });
    this.redis.on('moved', () => events.moved(this));
  }

  get ready(): boolean {
    return this.redis.status === 'ready' && !this.restoring && !this.health.silent;
  }

  /** Connects once; later, ioredis reconnects by itself. */
  async connect(): Promise<void> {
    this.health.start();
    this.connecting ??= this.redis.connect();
    await this.connecting;
  }

  async subscribe(channel: string): Promise<void> {
    if (this.redis.status !== 'ready') {
      // A new link is still making its first connection; a lost one is reconnecting (the caller retries later).
      if (this.hasBeenReady) throw new Error(`the subscriber connection to ${this.node} is ${this.redis.status}`);
      await this.connect();
    }
    await this.redis.ssubscribe(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    // A lost connection holds no subscriptions.
    if (this.redis.status === 'ready') await this.redis.sunsubscribe(channel);
  }

  /** Asks the master whether the cluster serves queries (a cluster missing a slot refuses them all). */
  async checkClusterState(): Promise<void> {
    if (this.redis.status !== 'ready') return;
    const info = String(await this.redis.call('CLUSTER', 'INFO'));
    this.clusterOk = /^cluster_state:ok\r?$/m.test(info);
  }

  /**
   * The channels this connection is subscribed to now, as ioredis tracks them: Redis's own
   * `sunsubscribe` of a slot that moved away (which answers no command) removes its channels.
   */
  subscribedChannels(): ReadonlySet<string> {
    const subscriptions = this.redis.condition?.subscriber;
    return new Set(subscriptions ? subscriptions.channels('ssubscribe') : []);
  }

  close(): void {
    this.closed = true;
    this.health.stop();
    this.redis.disconnect();
  }
}
