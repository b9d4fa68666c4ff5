import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { parseEventId } from '@herald/protocol';
import {
  ServerRun,
  encodeReceipt,
  isRedirection,
  isWrongRun,
  keepPositions,
  openHistory,
  readHistories,
  readHistory,
  restartHistoryAfter,
  sameRetention,
  writeRetention,
  type HistoryRestart,
  type Receipt,
  type RedisShards,
  type RetentionPolicy,
  type StorageLayout,
  type StoredHistory,
} from '@herald/publisher-sdk/storage';
import { BrokerUnavailableError, type HistoryPage, type HistoryReader, type HistoryRequest, type PageLimit, type ReceiptSender } from './broker.js';

/**
 * A node's reads and writes of what Redis stores: users' histories (each script sent to the
 * server that holds the user's keys, with that server's run), receipts, and the retention policy.
 */
export class RedisStore implements HistoryReader, ReceiptSender {
  private closed = false;

  constructor(
    private readonly shards: RedisShards,
    private readonly layout: StorageLayout,
    private readonly retention: RetentionPolicy,
    private readonly logger: Logger,
  ) {}

  close(): void {
    this.closed = true;
  }

  async openHistory(userId: string): Promise<string> {
    const keys = this.layout.forUser(userId);
    return this.onUsersServer(keys.sequence, (redis, run) => openHistory(redis, keys, this.retention.positionTtlSeconds, run));
  }

  async readHistory(userId: string, after: string, limit: PageLimit): Promise<HistoryPage> {
    const keys = this.layout.forUser(userId);
    return historyPage(await this.onUsersServer(keys.sequence, (redis, run) => readHistory(redis, { keys, after }, limit, run)));
  }

  async readHistories(reads: readonly HistoryRequest[], limit: PageLimit): Promise<readonly (HistoryPage | undefined)[]> {
    const pages: (HistoryPage | undefined)[] = reads.map(() => undefined);
    const requests = reads.map(({ userId, after }) => ({ keys: this.layout.forUser(userId), after }));
    // One round trip per server: the reads of the users each one holds.
    const byServer = this.groupByServer(requests.map(({ keys }) => keys.sequence));
    await Promise.all(
      [...byServer].map(async ([redis, indexes]) => {
        const serverRequests = indexes.map((i) => requests[i] as (typeof requests)[number]);
        // A server that failed leaves its users' pages unread: each is read again by itself.
        const stored = await this.withServerRun(redis, (run) => readHistories(redis, serverRequests, limit, run)).catch(() => []);
        stored.forEach((history, j) => {
          pages[indexes[j] as number] = history && historyPage(history);
        });
      }),
    );
    return pages;
  }

  async restartHistoryAfter(userId: string, id: string): Promise<HistoryRestart> {
    const parts = parseEventId(id);
    if (!parts) throw new Error(`not an event id: ${JSON.stringify(id)}`);
    const keys = this.layout.forUser(userId);
    return this.onUsersServer(keys.sequence, (redis, run) =>
      restartHistoryAfter(redis, keys, parts, this.retention.positionTtlSeconds, run),
    );
  }

  async keepPositions(userIds: readonly string[]): Promise<void> {
    if (this.closed) throw new BrokerUnavailableError('broker is closed');
    const sequences = userIds.map((userId) => this.layout.userSequence(userId));
    const byServer = this.groupByServer(sequences);
    await Promise.all(
      [...byServer].map(([redis, indexes]) =>
        keepPositions(
          redis,
          indexes.map((i) => sequences[i] as string),
          this.retention.positionTtlSeconds,
        ).catch((error: unknown) => {
          if (isRedirection(error)) this.shards.redirected();
          throw error;
        }),
      ),
    );
  }

  async sendReceipt(channel: string, receipt: Receipt): Promise<void> {
    const { shared, sharded } = this.shards;
    const message = encodeReceipt(receipt);
    await (sharded ? shared.spublish(channel, message) : shared.publish(channel, message));
  }

  /** Writes this node's retention policy to Redis, where every publisher reads it. */
  async publishRetention(): Promise<void> {
    try {
      const previous = await writeRetention(this.shards.shared, this.layout, this.retention);
      if (previous && !sameRetention(previous, this.retention)) {
        this.logger.warn(
          { previous, retention: this.retention },
          "the retention policy in Redis differed from this node's; replaced it (nodes of one fleet must share HISTORY_* settings)",
        );
      }
    } catch (error) {
      this.logger.error({ err: error }, 'writing the retention policy to Redis failed; publishers keep the last one they read');
    }
  }

  /** Runs a history script on the server that holds `key` (a user's key), with that server's run. */
  private onUsersServer<T>(key: string, script: (redis: Redis, run: string) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new BrokerUnavailableError('broker is closed'));
    const redis = this.shards.connectionFor(key);
    if (!redis) {
      return Promise.reject(new BrokerUnavailableError("the cluster's slot table does not name the user's server now"));
    }
    return this.withServerRun(redis, (run) => script(redis, run));
  }

  /** The connection of each key's server, and which keys (by index) each one holds. */
  private groupByServer(keys: readonly string[]): Map<Redis, number[]> {
    const groups = new Map<Redis, number[]>();
    keys.forEach((key, i) => {
      const redis = this.shards.connectionFor(key);
      if (!redis) return; // unread: the caller reads it again by itself
      const group = groups.get(redis);
      if (group) group.push(i);
      else groups.set(redis, [i]);
    });
    return groups;
  }

  /**
   * Runs a history script with the run of the server the connection is on. A script that finds
   * another run (the server's role changed under the connection), or a cluster node that no
   * longer serves the slot, did nothing: the run or the slot table is read again for the next
   * try, and this one fails as the broker being unavailable.
   */
  private async withServerRun<T>(redis: Redis, script: (run: string) => Promise<T>): Promise<T> {
    if (this.closed) throw new BrokerUnavailableError('broker is closed');
    const runs = ServerRun.of(redis);
    const run = await runs.current().catch((error: unknown) => {
      throw new BrokerUnavailableError(`reading the Redis server's run id failed: ${(error as Error).message}`, { cause: error });
    });
    if (!runs.isCurrent(run)) throw new BrokerUnavailableError('the Redis connection changed');
    try {
      return await script(run.run);
    } catch (error) {
      if (isRedirection(error)) {
        this.shards.redirected();
        throw new BrokerUnavailableError(`the Redis server does not serve the user's keys now (${(error as Error).message})`, { cause: error });
      }
      if (!isWrongRun(error)) throw error;
      runs.forget();
      throw new BrokerUnavailableError("the Redis server's run changed (a promotion or a demotion); reading it again", { cause: error });
    }
  }
}

function historyPage(stored: StoredHistory): HistoryPage {
  return { history: stored.extent, events: stored.events, ...(stored.truncated ? { truncated: true } : {}) };
}
