/** A token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Seconds until a token is available (at least 1, for Retry-After). */
  wait(now: number): number {
    this.refill(now);
    return Math.max(1, Math.ceil((1 - this.tokens) / this.rate));
  }

  /** Full again: nothing to remember. */
  idle(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
  }
}

/** One token bucket per key (client address); buckets that filled up again are forgotten. */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.sweep(), 10_000);
    this.sweeper.unref();
  }

  /** True when `key` may act now; otherwise the seconds to wait. */
  take(key: string): true | number {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.rate, this.burst, now);
      this.buckets.set(key, bucket);
    }
    return bucket.take(now) ? true : bucket.wait(now);
  }

  get tracked(): number {
    return this.buckets.size;
  }

  sweep(): void {
    const now = this.now();
    for (const [key, bucket] of this.buckets) if (bucket.idle(now)) this.buckets.delete(key);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

/** The client address of a request: the socket's, or the last X-Forwarded-For entry when trusted. */
export function clientAddress(remoteAddress: string, forwardedFor: string, trustProxy: boolean): string {
  if (!trustProxy || forwardedFor === '') return remoteAddress;
  const entries = forwardedFor.split(',');
  return entries[entries.length - 1]?.trim() || remoteAddress;
}
