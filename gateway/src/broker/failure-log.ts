import type { Logger } from 'pino';
import { failureReason } from '@herald/publisher-sdk/storage';
import type { RedisTarget } from './redis-target.js';

/** A streak's failures are summed up in one line this often (ioredis retries every few hundred ms). */
export const FAILURE_SUMMARY_MS = 30_000;

export interface FailureLogOptions {
  readonly logger: Logger;
  readonly target: RedisTarget;
  /** What the node does meanwhile, e.g. "retrying, not ready". */
  readonly meanwhile: string;
  readonly now?: () => number;
}

/**
 * Logs a connection's failures without flooding: the first failure of a streak at once, in one
 * line that names the target; then a summary at most every 30 s; and the recovery once. A streak
 * also ends after 30 s without a failure, for connections whose recovery is not signalled.
 */
export class FailureLog {
  private readonly now: () => number;
  /** When the streak began; undefined when there is none. */
  private failingSince: number | undefined;
  private lastFailureAt = 0;
  private lastLineAt = 0;
  /** Failures since the last line. */
  private unreported = 0;
  private total = 0;

  constructor(private readonly options: FailureLogOptions) {
    this.now = options.now ?? Date.now;
  }

  get failing(): boolean {
    return this.failingSince !== undefined;
  }

  failed(error: unknown): void {
    const { logger, target, meanwhile } = this.options;
    const now = this.now();
    const reason = failureReason(error);
    const fields = { redis: target.address, variable: target.variable, reason };
    if (this.failingSince !== undefined && now - this.lastFailureAt > FAILURE_SUMMARY_MS) this.failingSince = undefined;
    this.lastFailureAt = now;
    this.total += 1;
    if (this.failingSince === undefined) {
      this.failingSince = now;
      this.lastLineAt = now;
      this.unreported = 0;
      this.total = 1;
      logger.error(fields, `cannot reach ${target.label}: ${reason}; ${meanwhile}`);
      return;
    }
    this.unreported += 1;
    if (now - this.lastLineAt < FAILURE_SUMMARY_MS) return;
    const seconds = Math.round((now - this.lastLineAt) / 1000);
    logger.warn(
      { ...fields, failures: this.unreported },
      `still cannot reach ${target.label} (${this.unreported} failures in the last ${seconds} s, the last: ${reason}); ${meanwhile}`,
    );
    this.lastLineAt = now;
    this.unreported = 0;
  }

  /** The connection works again: logged once, if a failure was. */
  recovered(): void {
    if (this.failingSince === undefined) return;
    const { logger, target } = this.options;
    const seconds = Math.round((this.now() - this.failingSince) / 1000);
    logger.warn(
      { redis: target.address, variable: target.variable, failures: this.total, down_s: seconds },
      `reached ${target.label} again after ${seconds} s (${this.total} failed attempts)`,
    );
    this.failingSince = undefined;
  }
}
