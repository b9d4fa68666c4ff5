import { needsNewToken } from '@herald/protocol';

export const DEFAULT_MAX_AUTH_FAILURES = 3;
/**
 * Refusals that clear up by themselves (a clock a few seconds ahead of the gateway's, signing keys
 * being rotated while the gateway's key set is cached) last seconds: the client keeps trying at
 * least this long before it gives up.
 */
export const DEFAULT_AUTH_RETRY_WINDOW_MS = 60_000;

export interface AuthFailureOptions {
  readonly limit: number;
  readonly windowMs: number;
  /** The client has `getToken`: a refused token can be replaced. */
  readonly canRenew: boolean;
  readonly now?: () => number;
}

/**
 * Counts the upgrades that refused the client's token since the last welcome, and says when
 * trying again is pointless: at once without `getToken` (the same token would be refused again);
 * with it, after `limit` refusals in a row that span at least `windowMs`.
 */
export class AuthFailures {
  private count = 0;
  private firstAt = 0;
  private readonly now: () => number;

  constructor(private readonly options: AuthFailureOptions) {
    const { limit, windowMs } = options;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`maxAuthFailures must be a positive integer (got ${limit})`);
    if (!Number.isSafeInteger(windowMs) || windowMs < 0) throw new Error(`authRetryWindowMs must be a non-negative integer (got ${windowMs})`);
    this.now = options.now ?? Date.now;
  }

  /** A welcome: the token was accepted. */
  reset(): void {
    this.count = 0;
  }

  /**
   * Records a close of a socket that was never welcomed; true when the client should stop
   * trying. (A welcomed socket closed with 4001 had its token accepted: it only expired.)
   */
  giveUpAfter(code: number): boolean {
    if (!needsNewToken(code)) return false;
    if (!this.options.canRenew) return true;
    if (this.count === 0) this.firstAt = this.now();
    this.count += 1;
    return this.count >= this.options.limit && this.now() - this.firstAt >= this.options.windowMs;
  }
}
