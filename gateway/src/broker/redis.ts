import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { BroadcastResult, PublishRequest } from '@herald/protocol';
import type { Publisher } from '@herald/publisher-sdk';
import {
  SingleRedis,
  storageLayout,
  type StorageLayout,
} from '@herald/publisher-sdk/storage';
import {
  BrokerUnavailableError,
  type Broker,
  type BrokerHealth,
  type BrokerMessageHandler,
  type ConnectionHandler,
  type RenewedHandler,
} from './broker.js';
import { ConnectionHealth } from './connection-health.js';
import { FailureLog } from './failure-log.js';
import { RedisStore } from './redis-store.js';
import { CONNECTION_CHECKS, nodePublisher, type RedisBrokerSettings } from './redis-settings.js';
import { redisUrlTarget, type RedisTarget } from './redis-target.js';
import { StoreBackedBroker, publishRequest } from './store-backed.js';

export interface RedisBrokerOptions extends RedisBrokerSettings {
  readonly url: string;
}

const RESUBSCRIBE_BATCH = 500;

/**
 * Redis pub/sub broker: one connection in subscriber mode, one for commands. Both fail fast while
 * disconnected (no offline queue): a socket is refused rather than left waiting on a dead link.
 * Subscriptions are restored by this class after a reconnect, never silently by ioredis.
 */
export class RedisBroker extends StoreBackedBroker implements Broker {
  readonly kind = 'redis';
  private readonly layout: StorageLayout;
  private readonly subscriber: Redis;
  private readonly commands: Redis;
  private readonly subscriberHealth: ConnectionHealth;
  private readonly commandsHealth: ConnectionHealth;
  protected readonly store: RedisStore;
  private readonly publisher: Publisher;
  private readonly logger: Logger;
  private readonly target: RedisTarget;
  /** Both connections' failures, as one: they reach the same server. */
  private readonly failures: FailureLog;
  /**
   * Users whose channels this node wants; restored on every reconnect. Their ids, not channel
   * names: ioredis keeps each name already, and a message's channel is read back into its user.
   */
  private readonly users = new Set<string>();
  private handler: BrokerMessageHandler | undefined;
  private connectionHandler: ConnectionHandler | undefined;
  /** Subscriptions were lost and are not restored yet (or the command connection is not back). */
  private lost = false;
  private restoring = false;
  /** Subscriptions are restored; the node is told once the command connection is ready too. */
  private restored = false;
  private hasBeenReady = false;
  private closed = false;

  constructor(options: RedisBrokerOptions) {
    super();
    this.layout = storageLayout(options.channelPrefix);
    this.logger = options.logger;
    this.target = redisUrlTarget(options.url);
    this.failures = new FailureLog({ logger: this.logger, target: this.target, meanwhile: 'retrying, not ready' });
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Never resend a command to the server a reconnection reached: scripts carry the run id of
      // the server they were sent to, and the publisher SDK shares this connection.
      autoResendUnfulfilledCommands: false,
      protocol: 3,
      commandTimeout: options.commandTimeoutMs,
    };
    this.subscriber = new Redis(options.url, {
      ...common,
      autoResubscribe: false,
      connectionName: `herald-sub-${options.nodeId}`,
    });
    this.commands = new Redis(options.url, { ...common, connectionName: `herald-cmd-${options.nodeId}` });
    this.store = new RedisStore(new SingleRedis(this.commands), this.layout, options.retention, this.logger);
    this.publisher = nodePublisher(options, { redis: this.commands });
    const watch = (role: 'subscriber' | 'commands', connection: Redis) =>
      new ConnectionHealth(connection, {
        ...CONNECTION_CHECKS,
        onReconnect: (silentForMs) =>
          this.logger.error({ connection: role, silent_ms: silentForMs }, 'redis connection silent for too long; reconnecting'),
        // Publishes and history scripts write: a primary demoted to a read-only replica refuses them all.
        requirePrimary: role === 'commands',
      });
    this.subscriberHealth = watch('subscriber', this.subscriber);
    this.commandsHealth = watch('commands', this.commands);
    this.subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => this.dispatch(channel, payload));
    this.subscriber.on('ready', () => this.onSubscriberReady());
    this.subscriber.on('close', () => this.onSubscriberLost());
    this.commands.on('ready', () => {
      void this.store.publishRetention();
      this.announceRestoredWhenUsable();
    });
    for (const [role, connection] of [['subscriber', this.subscriber], ['commands', this.commands]] as const) {
      // ioredis reports every failed attempt (several a second): FailureLog keeps the log readable.
      connection.on('error', (error: Error) => this.failures.failed(error));
      connection.on('ready', () => {
        if (this.subscriber.status === 'ready' && this.commands.status === 'ready') this.failures.recovered();
      });
      connection.on('end', () => {
        if (!this.closed) this.logger.warn({ connection: role }, 'redis connection ended');
      });
      connection.on('reconnecting', (delay: number) =>
        this.logger.debug({ connection: role, delay_ms: delay }, 'redis reconnecting'),
      );
    }
  }

  async start(): Promise<void> {
    // Watched from the start: connections made later, once Redis is reachable, must be watched too.
    this.subscriberHealth.start();
    this.commandsHealth.start();
    try {
      await Promise.all([this.subscriber.connect(), this.commands.connect()]);
    } catch (error) {
      // Logged by the failure log already (this only counts when an error event came first).
      this.failures.failed(error);
      throw new BrokerUnavailableError(`${this.target.label} is unreachable`, { cause: error });
    }
    await this.store.publishRetention();
  }

  async subscribe(userId: string): Promise<void> {
    const channel = this.layout.userEvents(userId);
    if (this.closed) throw new BrokerUnavailableError('broker is closed');
    this.users.add(userId);
    try {
      await this.subscriber.subscribe(channel);
    } catch (error) {
      this.users.delete(userId);
      // Unanswered in time, the SUBSCRIBE may still run: undo it. (A later SUBSCRIBE of the user
      // goes out after this UNSUBSCRIBE on the same connection.)
      if (this.subscriber.status === 'ready') {
        void this.subscriber.unsubscribe(channel).catch(() => undefined);
      }
      throw new BrokerUnavailableError(`subscribing to Redis failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async unsubscribe(userId: string): Promise<void> {
    const channel = this.layout.userEvents(userId);
    this.users.delete(userId);
    // A lost connection holds no subscriptions, and the channel is no longer restored.
    if (this.subscriber.status !== 'ready') return;
    await this.subscriber.unsubscribe(channel);
  }

  async publish(request: PublishRequest): Promise<BroadcastResult> {
    if (this.closed) throw new BrokerUnavailableError('broker is closed');
    // Known not to answer (silent, or reconnecting for longer than a blip): fail now, certainly
    // unpublished, rather than hold the request for the SDK's waits and deadlines.
    if (this.commandsHealth.unavailable) {
      const why = this.commandsHealth.readOnly ? 'is a read-only replica' : 'is not answering';
      throw new BrokerUnavailableError(`the event was not published: ${this.target.label} ${why}`);
    }
    return publishRequest(this.publisher, request);
  }

  onMessage(handler: BrokerMessageHandler): void {
    this.handler = handler;
  }

  onSubscriptionsRenewed(_handler: RenewedHandler): void {
    // A lost subscriber connection holds the whole node instead (onConnectionChange): there is one server.
  }

  onConnectionChange(handler: ConnectionHandler): void {
    this.connectionHandler = handler;
  }

  health(): BrokerHealth {
    const { label } = this.target;
    if (this.closed) return { connected: false, detail: 'redis broker is closed', summary: `the broker for ${label} is closed` };
    const subscriberSilent = this.subscriberHealth.silent;
    const commandsSilent = this.commandsHealth.silent;
    const readOnly = this.commandsHealth.readOnly;
    const connected =
      this.subscriber.status === 'ready' &&
      this.commands.status === 'ready' &&
      !this.restoring &&
      !subscriberSilent &&
      !commandsSilent &&
      !readOnly;
    const subscriber = this.restoring ? 'restoring subscriptions' : subscriberSilent ? 'not answering' : this.subscriber.status;
    const commands = commandsSilent ? 'not answering' : readOnly ? 'on a read-only replica' : this.commands.status;
    return { connected, detail: `redis subscriber ${subscriber}, commands ${commands}`, summary: `${label} ${this.state(connected)}` };
  }

  /** What is wrong, in a few words (a connection that is not ready has not reached Redis). */
  private state(connected: boolean): string {
    if (connected) return 'is connected';
    if (this.commandsHealth.readOnly) return 'is a read-only replica';
    if (this.subscriber.status !== 'ready' || this.commands.status !== 'ready') return 'is unreachable';
    if (this.subscriberHealth.silent || this.commandsHealth.silent) return 'is not answering';
    return 'is back; subscriptions are being restored';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.store.close();
    this.subscriberHealth.stop();
    this.commandsHealth.stop();
    this.users.clear();
    await this.publisher.close();
    await Promise.all([quit(this.subscriber), quit(this.commands)]);
  }

  private dispatch(channel: Buffer, payload: Buffer): void {
    const userId = this.layout.userOfEvents(channel.toString());
    if (userId !== undefined && this.users.has(userId)) this.handler?.(userId, payload);
  }

  private onSubscriberReady(): void {
    if (!this.hasBeenReady) {
      this.hasBeenReady = true;
      return;
    }
    void this.restoreSubscriptions();
  }

  private onSubscriberLost(): void {
    this.restored = false;
    if (this.closed || !this.hasBeenReady || this.lost) return;
    this.lost = true;
    this.connectionHandler?.(false);
  }

  /**
   * Tells the node that subscriptions are back once the command connection works as well: the
   * node's first step is to read history, and after a Redis restart the subscriber often comes
   * back before the command connection does.
   */
  private announceRestoredWhenUsable(): void {
    if (!this.lost || !this.restored || this.commands.status !== 'ready' || this.closed) return;
    this.lost = false;
    this.restored = false;
    this.connectionHandler?.(true);
  }

  private async restoreSubscriptions(): Promise<void> {
    const users = [...this.users];
    const channels = users.map((userId) => this.layout.userEvents(userId));
    this.logger.warn({ channels: channels.length }, 'redis subscriber reconnected; restoring subscriptions');
    this.restoring = true;
    try {
      for (let i = 0; i < channels.length; i += RESUBSCRIBE_BATCH) {
        await this.subscriber.subscribe(...channels.slice(i, i + RESUBSCRIBE_BATCH));
      }
      // Users whose last socket left while their channel was being restored.
      const stale = channels.filter((_channel, i) => !this.users.has(users[i] as string));
      if (stale.length > 0) await this.subscriber.unsubscribe(...stale);
      this.logger.info({ channels: channels.length }, 'redis subscriptions restored');
      this.restored = true;
      this.announceRestoredWhenUsable();
    } catch (error) {
      // Start over on a fresh connection rather than run with a partial set.
      this.logger.error({ err: error }, 'restoring redis subscriptions failed; reconnecting');
      this.subscriber.disconnect(true);
    } finally {
      this.restoring = false;
    }
  }
}

async function quit(connection: Redis): Promise<void> {
  if (connection.status === 'ready') {
    await connection.quit().catch(() => connection.disconnect());
  } else {
    connection.disconnect();
  }
}
