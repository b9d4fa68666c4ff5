/** How the client spaces its reconnection attempts. */
export interface BackoffOptions {
  /** Ceiling of the first delay. Default 250 ms. */
  readonly initialDelayMs?: number;
  /** Largest ceiling. Default 10 000 ms. */
  readonly maxDelayMs?: number;
}

/**
 * Exponential backoff with full jitter: a uniform delay between 0 and min(max, initial × 2^attempt),
 * so a fleet of clients cut off together does not come back together.
 */
export function reconnectDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? 250;
  const max = options.maxDelayMs ?? 10_000;
  return Math.floor(random() * Math.min(max, initial * 2 ** attempt));
}
