import type { Logger } from 'pino';
import {
  CloseCodes,
  encodeControlFrame,
  eventIdPartsOfPayload,
  formatEventId,
  type EventIdParts,
} from '@herald/protocol';
import type { HistoryExtent, HistoryPage, HistoryReader, PageLimit } from '../broker/broker.js';
import type { GatewayMetrics } from '../metrics.js';
import type { FanOut } from './fan-out.js';
import { gapConcerns } from './history-coverage.js';
import { gapFrameBefore, replayHistory } from './history-replay.js';
import { FailureStreak, type RetrySettings } from './failure-streak.js';
import type { OutageState } from './outage.js';
import type { ReadBudget } from './read-budget.js';
import type { Sequencer } from './sequencer.js';
import type { UserStream } from './user-stream.js';

/** A first page of history read already, after `after` (a recovery reads many users' at once). */
export interface Prefetched {
  readonly after: string;
  readonly page: HistoryPage;
}

/**
 * Why a stream catches up: a hole in its live events, a broker outage, an outage during its
 * opening, or its subscription made again (on another Redis server after its cluster slot moved, or after
 * its connection to the server dropped).
 */
export type CatchUpPath = 'hole' | 'recovery' | 'opening' | 'resubscribed';

export interface CatchUpOptions {
  readonly history: HistoryReader;
  readonly outage: OutageState;
  /** Whether the node still follows this stream (it was not closed or replaced). */
  readonly follows: (user: UserStream) => boolean;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly page: PageLimit;
  readonly budget: ReadBudget;
  /**
   * Failed history reads are retried with backoff; the stream's sockets stay open and simply
   * wait until the failures have lasted `giveUpAfterMs`, then they are asked to resync (close
   * 4000). Reads go on being retried after.
   */
  readonly retry: RetrySettings;
}

function extentPosition(extent: HistoryExtent): EventIdParts {
  return { ms: extent.epoch, seq: extent.count };
}

function resync(user: UserStream, why: string): void {
  for (const member of user.members) if (!member.detached) member.outlet.close(CloseCodes.RESYNC.code, why);
}

/**
 * Brings a holding stream up to date from history, then lets it go live: every event after its
 * position is handed to its sockets from history, a herald.gap goes first where history cannot
 * vouch for everything, and what was held meanwhile follows (minus what history already gave).
 */
export class CatchUp {
  constructor(
    private readonly options: CatchUpOptions,
    private readonly sequencer: Sequencer,
    private readonly fanOut: FanOut,
  ) {}

  /** Resolves once the stream is live, no longer followed, or superseded by a newer outage generation. */
  async run(user: UserStream, path: CatchUpPath, prefetched?: Prefetched): Promise<void> {
    const { outage } = this.options;
    if (outage.suspended) return; // the recovery after the outage catches every stream up
    const generation = outage.generation;
    if (user.catchingUp === generation) return; // the running catch-up takes what is held
    user.catchingUp = generation;
    const current = () => generation === outage.generation && this.options.follows(user);
    try {
      const failures = new FailureStreak(this.options.retry);
      let resynced = false;
      while (current()) {
        // The event the stream holds first: if history, read after it arrived, does not hold it either, nothing can fill what lies before it.
        const waiting = user.held?.[0];
        let extent: HistoryExtent | undefined;
        try {
          extent = await this.fillFromHistory(user, path, current, prefetched);
          prefetched = undefined;
          failures.succeeded();
        } catch (error) {
          prefetched = undefined;
          if (!current()) return;
          const delay = failures.failed();
          if (failures.began) this.options.logger.warn({ err: error, path }, 'catching a user up from history failed; retrying');
          if (!resynced && failures.lastedTooLong()) {
            resynced = true;
            this.options.logger.error({ err: error, path }, 'history stayed unreadable; asking the sockets of a user to resync');
            resync(user, 'could not read history; reconnect and resume');
          }
          await new Promise((resolve) => setTimeout(resolve, delay));
          continue;
        }
        if (!current() || user.overflowed || extent === undefined) continue;
        this.sequencer.release(user);
        if (!user.held) return;
        if (waiting !== undefined && user.held[0] === waiting) {
          // Never read again for nothing: a stream that cannot move past its first held event stops here.
          if (!this.skipTo(user, waiting, extent, path)) return;
          this.sequencer.release(user);
          if (!user.held) return;
        }
      }
    } finally {
      if (user.catchingUp === generation) user.catchingUp = undefined;
    }
  }

  /**
   * Announces a gap before `payload`'s event and makes that event the next one: it was published
   * (it reached the node), yet the history does not hold it, nor anything up to it. (A publisher
   * that writes its histories elsewhere than this node reads them: another database number, a
   * key prefix.) False when `payload` names no event to move to.
   */
  private skipTo(user: UserStream, payload: Buffer, extent: HistoryExtent, path: CatchUpPath): boolean {
    const id = eventIdPartsOfPayload(payload);
    const position = user.position;
    if (!id || !position) return false;
    this.options.logger.warn({ path }, "a user's event is missing from the history this node reads; announcing a gap before it");
    this.announceGap(user, position, id, extent, path);
    user.advanceTo({ ms: id.ms, seq: id.seq - 1 });
    return true;
  }

  /** Sends a gap notice before `next` (undefined: the history's end) to each socket it concerns, from where that socket stands. */
  private announceGap(
    user: UserStream,
    since: EventIdParts,
    next: EventIdParts | undefined,
    extent: HistoryExtent,
    path: CatchUpPath,
  ): void {
    for (const member of user.members) {
      if (member.detached) continue;
      const at = member.gapPosition() ?? since;
      if (!gapConcerns(at, next, extent)) continue;
      this.options.metrics.gapsSignalled.labels(path).inc();
      member.sendGap(encodeControlFrame(gapFrameBefore(at, next)));
    }
  }

  /**
   * Hands the sockets everything history holds after the stream's position, and a gap notice to
   * each that misses some; returns the history as read (undefined when the replay stopped).
   */
  private async fillFromHistory(
    user: UserStream,
    path: CatchUpPath,
    current: () => boolean,
    prefetched: Prefetched | undefined,
  ): Promise<HistoryExtent | undefined> {
    const { history, metrics, budget, page } = this.options;
    user.overflowed = false;
    const position = user.position;
    if (position === undefined) throw new Error('catching up a stream whose position is unknown');
    const source = { history, budget, limit: page, userId: user.userId, ...(prefetched ? { prefetched } : {}) };
    const outcome = await replayHistory(source, formatEventId(position), {
      gap: (since, next, extent) => this.announceGap(user, since, next, extent, path),
      event: (payload, id) => {
        metrics.backfilledEvents.labels(path).inc();
        this.fanOut.toUser(user, payload, id);
      },
      proceed: current,
    });
    if (outcome.kind === 'stopped') return undefined;
    if (outcome.kind === 'invalid') throw new Error("this node's position for the user lies implausibly far ahead of Redis's clock");
    // Everything up to the history's position was handed over or announced as a gap.
    user.advanceTo(extentPosition(outcome.extent));
    return outcome.extent;
  }
}
