import { parseEventId, type EventIdParts } from '@herald/protocol';

/** What an arriving event is, next to the last one the client has. */
export type Arrival = 'next' | 'duplicate' | 'hole' | 'invalid';

/**
 * The client's own check of the stream: each event must follow the last one it has (the next
 * number of the same history), unless the gateway announced a gap just before.
 * A gateway that works never sends a duplicate or a hole; the client catches one if it does.
 */
export class EventSequence {
  private last: EventIdParts | undefined;
  private lastId: string | undefined;
  private gapAnnounced = false;

  constructor(start: string | undefined) {
    if (start !== undefined && !this.moveTo(start)) throw new Error(`not an event id: ${JSON.stringify(start)}`);
  }

  /** The last event id the client has (or the position it started from). */
  get position(): string | undefined {
    return this.lastId;
  }

  /** Starts from `id` when the client has no position yet (the first welcome). False if `id` is not an event id. */
  startAt(id: unknown): boolean {
    return this.lastId !== undefined || this.moveTo(id);
  }

  /** Moves to `id` whatever it is (the gateway refused a since and carries on from its own). False if `id` is not an event id. */
  moveTo(id: unknown): boolean {
    const parts = typeof id === 'string' ? parseEventId(id) : undefined;
    if (!parts) return false;
    this.last = parts;
    this.lastId = id as string;
    return true;
  }

  /** Forgets the position: the next connection starts afresh. */
  reset(): void {
    this.last = undefined;
    this.lastId = undefined;
    this.gapAnnounced = false;
  }

  /** A herald.gap arrived: the next event may jump. */
  announceGap(): void {
    this.gapAnnounced = true;
  }

  classify(id: string): Arrival {
    const next = parseEventId(id);
    if (!next) return 'invalid';
    const last = this.last;
    if (!last) return 'next';
    if (next.ms < last.ms || (next.ms === last.ms && next.seq <= last.seq)) return 'duplicate';
    if (this.gapAnnounced) return 'next';
    // A newer history comes after a herald.gap: the gateway cannot vouch for the end of the old one.
    return next.ms === last.ms && next.seq === last.seq + 1 ? 'next' : 'hole';
  }

  /** Records an event classified `next`. */
  accept(id: string): void {
    this.moveTo(id);
    this.gapAnnounced = false;
  }
}
