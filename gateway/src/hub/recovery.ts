import type { Logger } from 'pino';
import { formatEventId } from '@herald/protocol';
import type { HistoryReader, PageLimit } from '../broker/broker.js';
import type { GatewayMetrics } from '../metrics.js';
import type { CatchUp } from './catch-up.js';
import type { OutageState } from './outage.js';
import type { UserStream } from './user-stream.js';

// Users whose first page of history is read in one round trip.
const BATCH = 500;

/**
 * The node's side of a broker outage: when subscriptions are lost every stream holds what still
 * arrives; when they are back every stream is caught up from history. The first page of each
 * user's history is read for many users in one round trip, which is all most users need; a user
 * takes new sockets again as soon as their own stream is live.
 */
export class Recovery {
  private recovering = false;
  /** Streams not caught up yet since the last restoration. */
  private readonly pending = new Set<UserStream>();

  constructor(
    private readonly catchUp: CatchUp,
    readonly outage: OutageState,
    private readonly history: HistoryReader,
    private readonly page: PageLimit,
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** Whether the stream still waits to be caught up after an outage (its new sockets wait too). */
  isPending(user: UserStream): boolean {
    return this.outage.suspended || this.pending.has(user);
  }

  /** False from the loss of subscriptions until every stream is live again. */
  get ready(): boolean {
    return !this.recovering;
  }

  suspend(streams: Iterable<UserStream>): void {
    this.outage.generation += 1;
    this.outage.suspended = true;
    this.recovering = true;
    let count = 0;
    for (const user of streams) {
      user.held ??= [];
      count += 1;
    }
    this.logger.warn({ users: count }, 'broker subscriptions lost; holding deliveries until recovered');
  }

  async restore(streams: () => Iterable<UserStream>): Promise<void> {
    this.metrics.brokerReconnects.inc();
    const generation = ++this.outage.generation;
    this.outage.suspended = false;
    this.recovering = true;
    const started = Date.now();
    // Streams still opening catch themselves up once their position is known.
    const users = [...streams()].filter((user) => user.position !== undefined);
    this.pending.clear();
    for (const user of users) this.pending.add(user);
    const runs: Promise<void>[] = [];
    for (let i = 0; i < users.length && generation === this.outage.generation; i += BATCH) {
      const batch = users.slice(i, i + BATCH);
      const reads = batch.map((user) => ({ userId: user.userId, after: formatEventId(user.position ?? { ms: 0, seq: 0 }) }));
      // A failed batch costs nothing but time: each stream then reads (and retries) by itself.
      const pages = await this.history.readHistories(reads, this.page).catch(() => []);
      batch.forEach((user, j) => {
        const page = pages[j];
        const after = reads[j]?.after ?? '';
        runs.push(
          this.catchUp.run(user, 'recovery', page && { after, page }).finally(() => {
            // A later restoration has its own list of streams to catch up.
            if (generation === this.outage.generation) this.pending.delete(user);
          }),
        );
      });
    }
    await Promise.all(runs);
    if (generation !== this.outage.generation) return;
    this.recovering = false;
    this.logger.info({ users: users.length, ms: Date.now() - started }, 'recovered from broker outage');
  }
}
