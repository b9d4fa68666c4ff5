interface Waiter {
  readonly key: string;
  readonly start: () => void;
}

/**
 * The node's budget for history reads made for resumes and catch-ups: at most `concurrency` in
 * flight, and at most `perKey` of them for one key (a user), the rest wait their turn in order.
 * With pages bounded by bytes this bounds the bytes in flight too, and with the per-user share
 * no user's resumes (however many sockets resume at once) can take the node's history reads
 * from everyone else. A read whose reader went away while it waited is never made.
 */
export class ReadBudget {
  private active = 0;
  private readonly activeByKey = new Map<string, number>();
  private waiting: Waiter[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly perKey: number,
  ) {}

  /** Runs `read` within the budget, unless `wanted()` says it is no longer needed by then (undefined). */
  async run<T>(key: string, wanted: () => boolean, read: () => Promise<T>): Promise<T | undefined> {
    if (this.hasRoomFor(key)) this.take(key);
    else await new Promise<void>((start) => this.waiting.push({ key, start }));
    try {
      return wanted() ? await read() : undefined;
    } finally {
      this.release(key);
    }
  }

  private hasRoomFor(key: string): boolean {
    return this.active < this.concurrency && (this.activeByKey.get(key) ?? 0) < this.perKey;
  }

  private take(key: string): void {
    this.active += 1;
    this.activeByKey.set(key, (this.activeByKey.get(key) ?? 0) + 1);
  }

  private release(key: string): void {
    this.active -= 1;
    const left = (this.activeByKey.get(key) ?? 1) - 1;
    if (left === 0) this.activeByKey.delete(key);
    else this.activeByKey.set(key, left);
    const index = this.waiting.findIndex((waiter) => this.hasRoomFor(waiter.key));
    if (index < 0) return;
    const [next] = this.waiting.splice(index, 1);
    if (!next) return;
    this.take(next.key);
    next.start();
  }
}
