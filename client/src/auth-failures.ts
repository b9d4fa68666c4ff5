import { needsNewToken } from '@herald/protocol';

export const DEFAULT_MAX_AUTH_FAILURES = 3;

/**
 * Counts the closes that refused the client's token since the last welcome, and says when
 * trying again is pointless: at once without `getToken` (the same token would be refused
 * again), after `limit` of them with it.
 */
export class AuthFailures {
  private count = 0;

  constructor(
    private readonly limit: number,
    private readonly canRenew: boolean,
  ) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`maxAuthFailures must be a positive integer (got ${limit})`);
  }

  /** A welcome: the token was accepted. */
  reset(): void {
    this.count = 0;
  }

  /** Records a close; true when the client should stop trying. */
  giveUpAfter(code: number): boolean {
    if (!needsNewToken(code)) return false;
    this.count += 1;
    return !this.canRenew || this.count >= this.limit;
  }
}
