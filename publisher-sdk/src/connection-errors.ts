import type { Cluster, Redis } from 'ioredis';
import { HeraldConnectionError } from './errors.js';
import { failureReason } from './redis-address.js';

/** After the first failure of an outage, the host hears of it at most this often. */
export const ERROR_REPORT_INTERVAL_MS = 30_000;

export type ConnectionErrorHandler = (error: HeraldConnectionError) => void;

/**
 * Listens to the `error` events of every connection the publisher makes: ioredis prints one
 * that nobody listens to on the console, and the host's console is not the SDK's to write on.
 * They reach the host through `onError`, if it gave one, rate-limited: an outage retried every
 * few hundred milliseconds is one report, then one every 30 s with the count since.
 */
export class ConnectionErrors {
  private failing = false;
  private lastReportAt = 0;
  private unreported = 0;
  private reason: string | undefined;

  constructor(
    private readonly onError: ConnectionErrorHandler | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The reason of the last failure while the connections fail; undefined once one is ready. */
  get lastReason(): string | undefined {
    return this.reason;
  }

  /** Handles the connection's errors from now on; `label` names it in reports ("Redis at host:port"). */
  watch<T extends Redis | Cluster>(client: T, label: () => string): T {
    client.on('error', (error: unknown) => this.failed(label(), error));
    client.on('ready', () => {
      this.failing = false;
      this.unreported = 0;
      this.reason = undefined;
    });
    return client;
  }

  /**
   * A connection that raised no error but never became usable (a Redis that accepts connections
   * and never answers): reported like a failure, within the same rate limit.
   */
  unusable(label: string, reason: string): void {
    this.failed(label, new Error(reason));
  }

  private failed(label: string, error: unknown): void {
    const now = this.now();
    this.reason = failureReason(error);
    this.unreported += 1;
    if (this.failing && now - this.lastReportAt < ERROR_REPORT_INTERVAL_MS) return;
    this.failing = true;
    this.lastReportAt = now;
    const report = new HeraldConnectionError(`cannot reach ${label}: ${this.reason}`, this.unreported, { cause: error });
    this.unreported = 0;
    try {
      this.onError?.(report);
    } catch {
      // A throwing callback must not end up thrown inside ioredis's event emitter, uncaught.
    }
  }
}
