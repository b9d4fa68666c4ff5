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

/** What a member needs only while it resumes; made by `beginResume`, dropped by `finishResume`. */
class ResumeState {
  /** Live events held back until history is replayed; undefined once discarded (the socket went away). */
  held: Buffer[] | undefined = [];
  heldBytes = 0;
  /** Live events held during the resume were dropped for lack of room: history must be read again. */
  heldOverflowed = false;
  /** Gap notices for where the socket stood before its resume, sent only if the resume is refused. */
  gapsBeforeResume: string[] | undefined;

  constructor(
    /** Where the socket stood before the resume. */
    readonly beforeResume: EventIdParts | undefined,
  ) {}
}

/**
 * One socket's place in its user's event stream. It remembers the last event id the socket
 * has, so no event is sent to it twice or out of order, whatever path the event takes (live,
 * replayed from history on resume, or backfilled after a broker outage).
 */
export class Member {
  /**
   * The newest event the socket has. Event ids are immutable, so this is the id object the event
   * came with (shared with the user's other sockets): the live path allocates nothing per socket.
   */
  private at: EventIdParts | undefined;
  private resume: ResumeState | undefined;
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
    this.at = start;
  }

  get resuming(): boolean {
    return this.resume?.held !== undefined;
  }

  /**
   * A live event. While resuming it is held back (history comes first); otherwise it is sent
   * unless the socket already has it.
   */
  offer(payload: Buffer, id: EventIdParts): OfferOutcome {
    const resume = this.resume;
    if (resume?.held) {
      resume.heldBytes += payload.length;
      if (resume.heldBytes <= this.maxHeldBytes) {
        resume.held.push(payload);
      } else if (!resume.heldOverflowed) {
        resume.held.length = 0;
        resume.heldOverflowed = true;
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
    const at = this.at;
    if (at && (id.ms < at.ms || (id.ms === at.ms && id.seq <= at.seq))) return 'skipped';
    this.at = id;
    this.sent += 1;
    const outcome = this.outlet.send(payload);
    if (outcome === 'too_large') {
      this.outlet.send(encodeControlFrame(gapFrame(formatEventId({ ms: id.ms, seq: id.seq - 1 }), null)));
    }
    return outcome;
  }

  /** Where the socket stands for a gap notice: while resuming, where it stood before (a refused resume goes back there). */
  gapPosition(): EventIdParts | undefined {
    const resume = this.resume;
    return resume?.held ? resume.beforeResume : this.at;
  }

  /**
   * Sends a gap notice computed for `gapPosition()`. While resuming it is kept instead: the
   * resume announces its own gaps, and only a refused one needs this notice.
   */
  sendGap(frame: string): void {
    const resume = this.resume;
    if (resume?.held) (resume.gapsBeforeResume ??= []).push(frame);
    else this.outlet.send(frame);
  }

  /** Held events discarded because the socket went away while resuming. */
  discardHeld(): number {
    const resume = this.resume;
    const count = resume?.held?.length ?? 0;
    if (resume) resume.held = undefined;
    return count;
  }

  /** Where the socket stands: the newest event it has (undefined: none yet). */
  position(): EventIdParts | undefined {
    return this.at;
  }

  /**
   * True (once) when live events held during the resume were dropped for lack of room: they are
   * in history, which the resume must read again from `position()` before finishing.
   */
  takeHeldOverflow(): boolean {
    const resume = this.resume;
    if (!resume?.heldOverflowed) return false;
    resume.heldOverflowed = false;
    resume.heldBytes = 0;
    return true;
  }

  /** From now on live events wait until `finishResume`; the position becomes `since`. */
  beginResume(since: EventIdParts): void {
    const previous = this.resume;
    this.resume = new ResumeState(this.at);
    // Gap notices kept by an earlier, unfinished resume still stand.
    this.resume.gapsBeforeResume = previous?.gapsBeforeResume;
    this.at = since;
  }

  /** Sends the live events held back during the resume (minus those history already gave), then goes live. */
  finishResume(): void {
    const held = this.resume?.held ?? [];
    this.resume = undefined;
    for (const payload of held) {
      const id = eventIdPartsOfPayload(payload);
      if (id) this.sendIfNew(payload, id);
    }
  }

  /** Abandons a resume: back to where the member was, then the held events as in `finishResume`. */
  cancelResume(): void {
    this.at = this.resume?.beforeResume;
    for (const frame of this.resume?.gapsBeforeResume ?? []) this.outlet.send(frame);
    this.finishResume();
  }
}
