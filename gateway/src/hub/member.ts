import {
  encodeControlFrame,
  eventIdPartsOfPayload,
  formatEventId,
  gapFrame,
  type EventIdParts,
} from '@herald/protocol';

/**
 * What became of one send: `sent` (accepted; possibly queued), `refused` (the socket could not
 * take it and is being closed so its client resumes), `too_large` (no socket could ever take it).
 */
export type SendOutcome = 'sent' | 'refused' | 'too_large';

/** One socket as the hub sees it. */
export interface Outlet {
  send(frame: Buffer | string): SendOutcome;
  /**
   * Resolves once no more than `bytes` wait to be sent on the socket, or it closed. A socket that
   * takes in nothing for too long meanwhile is closed as a slow consumer (4002).
   */
  whenBufferedBelow(bytes: number): Promise<void>;
  /** Closes the socket with a code from the protocol's close-code table. */
  close(code: number, reason: string): void;
}

/** What offering an event to a member came to; `skipped`: it already had it. */
export type OfferOutcome = SendOutcome | 'held' | 'skipped';

/**
 * One socket's place in its user's event stream. It remembers the last event id the socket
 * has, so no event is sent to it twice or out of order, whatever path the event takes (live,
 * replayed from history on resume, or backfilled after a broker outage).
 */
export class Member {
  // Position: the newest event the socket has; -1 while it has none. Numbers, not an object,
  // so the live path allocates nothing per socket per event.
  private ms = -1;
  private seq = -1;
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  /** Live events held during a resume were dropped for lack of room: history must be read again. */
  private heldOverflowed = false;
  private beforeResume: EventIdParts | undefined;
  /** Gap notices for where the socket stood before its resume, sent only if the resume is refused. */
  private gapsBeforeResume: string[] | undefined;
  /** Events sent since the member joined. */
  sent = 0;
  /** Set when the socket closes; the member must not be used after. */
  detached = false;

  constructor(
    readonly userId: string,
    readonly outlet: Outlet,
    start: EventIdParts | undefined,
    /** Bytes of live events held back during a resume; past it they are dropped and read from history instead. */
    private readonly maxHeldBytes = Number.POSITIVE_INFINITY,
  ) {
    if (start) this.moveTo(start);
  }

  get resuming(): boolean {
    return this.held !== undefined;
  }

  /**
   * A live event. While resuming it is held back (history comes first); otherwise it is sent
   * unless the socket already has it.
   */
  offer(payload: Buffer, id: EventIdParts): OfferOutcome {
    if (this.held) {
      this.heldBytes += payload.length;
      if (this.heldBytes <= this.maxHeldBytes) {
        this.held.push(payload);
      } else if (!this.heldOverflowed) {
        this.held.length = 0;
        this.heldOverflowed = true;
      }
      return 'held';
    }
    return this.sendIfNew(payload, id);
  }

  /**
   * Sends an event the socket does not have yet (ids at or before its position are skipped). One
   * too large for any socket is replaced by a herald.gap naming it, so the client knows.
   */
  sendIfNew(payload: Buffer, id: EventIdParts): OfferOutcome {
    if (id.ms < this.ms || (id.ms === this.ms && id.seq <= this.seq)) return 'skipped';
    this.moveTo(id);
    this.sent += 1;
    const outcome = this.outlet.send(payload);
    if (outcome === 'too_large') {
      this.outlet.send(encodeControlFrame(gapFrame(formatEventId({ ms: id.ms, seq: id.seq - 1 }), null)));
    }
    return outcome;
  }

  /** Where the socket stands for a gap notice: while resuming, where it stood before (a refused resume goes back there). */
  gapPosition(): EventIdParts | undefined {
    return this.held ? this.beforeResume : this.position();
  }

  /**
   * Sends a gap notice computed for `gapPosition()`. While resuming it is kept instead: the
   * resume announces its own gaps, and only a refused one needs this notice.
   */
  sendGap(frame: string): void {
    if (this.held) (this.gapsBeforeResume ??= []).push(frame);
    else this.outlet.send(frame);
  }

  /** Held events discarded because the socket went away while resuming. */
  discardHeld(): number {
    const count = this.held?.length ?? 0;
    this.held = undefined;
    return count;
  }

  /** Where the socket stands: the newest event it has (undefined: none yet). */
  position(): EventIdParts | undefined {
    return this.ms < 0 ? undefined : { ms: this.ms, seq: this.seq };
  }

  /**
   * True (once) when live events held during the resume were dropped for lack of room: they are
   * in history, which the resume must read again from `position()` before finishing.
   */
  takeHeldOverflow(): boolean {
    if (!this.heldOverflowed) return false;
    this.heldOverflowed = false;
    this.heldBytes = 0;
    return true;
  }

  /** From now on live events wait until `finishResume`; the position becomes `since`. */
  beginResume(since: EventIdParts): void {
    this.beforeResume = this.position();
    this.held = [];
    this.heldBytes = 0;
    this.heldOverflowed = false;
    this.moveTo(since);
  }

  /** Sends the live events held back during the resume (minus those history already gave), then goes live. */
  finishResume(): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.heldBytes = 0;
    this.gapsBeforeResume = undefined;
    for (const payload of held) {
      const id = eventIdPartsOfPayload(payload);
      if (id) this.sendIfNew(payload, id);
    }
  }

  /** Abandons a resume: back to where the member was, then the held events as in `finishResume`. */
  cancelResume(): void {
    this.ms = this.beforeResume?.ms ?? -1;
    this.seq = this.beforeResume?.seq ?? -1;
    for (const frame of this.gapsBeforeResume ?? []) this.outlet.send(frame);
    this.finishResume();
  }

  private moveTo(id: EventIdParts): void {
    this.ms = id.ms;
    this.seq = id.seq;
  }
}
