export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  readonly retries?: number;
  /** First backoff ceiling; doubles each retry (full jitter). Default 50 ms. */
  readonly baseDelayMs?: number;
  /** Largest backoff ceiling. Default 1000 ms. */
  readonly maxDelayMs?: number;
}

const TRANSIENT =
  /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTCONN|EHOSTUNREACH|Command timed out|MaxRetriesPerRequest|^LOADING|^READONLY|^TRYAGAIN|^CLUSTERDOWN|^MASTERDOWN/;

/** Errors after which the same command may succeed: connection trouble, failover, loading. */
export function isTransientRedisError(error: unknown): boolean {
  return error instanceof Error && (TRANSIENT.test(error.message) || error.name === 'MaxRetriesPerRequestError');
}

/**
 * Runs `attempt` until it succeeds, a non-transient error occurs, or the retries are spent.
 * Only for operations that are safe to repeat.
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  options: Required<RetryOptions>,
  onRetry: () => void = () => {},
): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if (retry >= options.retries || !isTransientRedisError(error)) throw error;
      onRetry();
      const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retry);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }
}
