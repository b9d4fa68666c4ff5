export interface RetrySettings {
  /** Wait before the first retry; doubles with each failure. */
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  /** How long failures may go on before the sockets waiting on them are given up on (closed to resync). */
  readonly giveUpAfterMs: number;
}

/** Failures of history reads in a row: the wait before the next try, and whether they have lasted too long. */
export class FailureStreak {
  private failures = 0;
  private since: number | undefined;

  constructor(private readonly settings: RetrySettings) {}

  succeeded(): void {
    this.failures = 0;
    this.since = undefined;
  }

  /** Records a failure; returns how long to wait before trying again. */
  failed(now = Date.now()): number {
    this.failures += 1;
    this.since ??= now;
    return Math.min(this.settings.maxDelayMs, this.settings.firstDelayMs * 2 ** (this.failures - 1));
  }

  /** The failure just recorded began the streak. */
  get began(): boolean {
    return this.failures === 1;
  }

  lastedTooLong(now = Date.now()): boolean {
    return this.since !== undefined && now - this.since >= this.settings.giveUpAfterMs;
  }
}
