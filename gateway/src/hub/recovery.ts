import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics.js';
import type { CatchUp } from './catch-up.js';
import type { OutageState } from './outage.js';
import type { UserStream } from './user-stream.js';

/**
 * The node's side of a broker outage: when subscriptions are lost every stream holds what still
 * arrives; when they are back every stream is caught up from history, a bounded number at a
 * time, and the node takes new sockets again once all are live.
 */
export class Recovery {
  private recovering = false;

  constructor(
    private readonly catchUp: CatchUp,
    readonly outage: OutageState,
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly concurrency: number,
  ) {}

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
    const pending = [...streams()].filter((user) => user.position !== undefined);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(this.concurrency, pending.length) }, async () => {
        while (next < pending.length && generation === this.outage.generation) {
          await this.catchUp.run(pending[next++] as UserStream, 'recovery');
        }
      }),
    );
    if (generation !== this.outage.generation) return;
    this.recovering = false;
    this.logger.info({ users: pending.length, ms: Date.now() - started }, 'recovered from broker outage');
  }
}
