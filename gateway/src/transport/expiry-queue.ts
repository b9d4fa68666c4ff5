/** Something the queue can hold: it keeps its own slot, so it can be removed in O(log n). */
export interface Expiring {
  /** When it expires (ms since the epoch). */
  readonly expiresAt: number;
  /** Its place in the queue; -1 when not queued. Only the queue writes it. */
  expirySlot: number;
}

// setTimeout fires at once for delays over 2^31-1 ms; longer waits are taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `expire(item)` when an item's time comes, with one timer for all items (a binary heap
 * by expiry): a timer per socket costs about 200 bytes per socket.
 */
export class ExpiryQueue<T extends Expiring> {
  private readonly heap: T[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly expire: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  add(item: T): void {
    if (item.expirySlot >= 0) return;
    item.expirySlot = this.heap.length;
    this.heap.push(item);
    this.up(item.expirySlot);
    this.arm();
  }

  remove(item: T): void {
    const slot = item.expirySlot;
    if (slot < 0 || this.heap[slot] !== item) return;
    item.expirySlot = -1;
    const last = this.heap.pop() as T;
    if (slot < this.heap.length) {
      this.heap[slot] = last;
      last.expirySlot = slot;
      this.down(slot);
      this.up(last.expirySlot);
    }
    if (this.heap.length === 0) this.disarm();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (let first = this.heap[0]; first !== undefined && first.expiresAt <= now; first = this.heap[0]) {
      this.remove(first);
      this.expire(first);
    }
    this.arm();
  }

  private arm(): void {
    const first = this.heap[0];
    if (first === undefined || first.expiresAt >= this.timerAt) return;
    this.disarm();
    this.timerAt = first.expiresAt;
    const timer = setTimeout(() => this.fire(), Math.max(0, Math.min(first.expiresAt - this.now(), MAX_TIMER_MS)));
    timer.unref();
    this.timer = timer;
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private up(slot: number): void {
    const heap = this.heap;
    const item = heap[slot] as T;
    while (slot > 0) {
      const parentSlot = (slot - 1) >> 1;
      const parent = heap[parentSlot] as T;
      if (parent.expiresAt <= item.expiresAt) break;
      heap[slot] = parent;
      parent.expirySlot = slot;
      slot = parentSlot;
    }
    heap[slot] = item;
    item.expirySlot = slot;
  }

  private down(slot: number): void {
    const heap = this.heap;
    const item = heap[slot] as T;
    for (;;) {
      let child = 2 * slot + 1;
      if (child >= heap.length) break;
      const right = child + 1;
      if (right < heap.length && (heap[right] as T).expiresAt < (heap[child] as T).expiresAt) child = right;
      const smaller = heap[child] as T;
      if (smaller.expiresAt >= item.expiresAt) break;
      heap[slot] = smaller;
      smaller.expirySlot = slot;
      slot = child;
    }
    heap[slot] = item;
    item.expirySlot = slot;
  }
}
