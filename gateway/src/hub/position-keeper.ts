import type { Logger } from 'pino';
import type { HistoryReader } from '../broker/broker.js';

const BATCH = 1000;
const MIN_INTERVAL_MS = 250;
const MAX_INTERVAL_MS = 24 * 3600 * 1000;

/** How often to refresh positions that live `positionTtlSeconds`: three times per ttl (at most every 250 ms, at least daily). */
export function positionRefreshInterval(positionTtlSeconds: number): number {
  return Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.floor((positionTtlSeconds * 1000) / 3)));
}

/**
 * Keeps the positions of the users a node follows for as long as it follows them (a socket may
 * stay open without any event for longer than the position ttl), and refreshes a user's once
 * more when the node stops following them: the ttl counts from when the user was last here.
 */
export class PositionKeeper {
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(
    private readonly history: Pick<HistoryReader, 'keepPositions'>,
    private readonly followed: () => Iterable<string>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The node stopped following the user. */
  left(userId: string): void {
    this.history.keepPositions([userId]).catch((error: unknown) => this.failed(error));
  }

  private async refresh(): Promise<void> {
    const users = [...this.followed()];
    try {
      for (let i = 0; i < users.length; i += BATCH) await this.history.keepPositions(users.slice(i, i + BATCH));
    } catch (error) {
      this.failed(error);
    }
  }

  private failed(error: unknown): void {
    if (this.stopped) return; // the broker closes as the node leaves
    this.logger.warn({ err: error }, 'keeping user positions failed; the next refresh tries again');
  }
}
