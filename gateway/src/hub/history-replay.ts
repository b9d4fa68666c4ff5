import { formatEventId, gapFrame, parseEventId, type EventIdParts, type GapFrame } from '@herald/protocol';
import type { HistoryExtent, HistoryPage, HistoryReader, PageLimit } from '../broker/broker.js';
import { isAfterHistory } from './history-coverage.js';
import type { ReadBudget } from './read-budget.js';

export interface ReplayHandlers {
  /**
   * Events after `since` may be missing: the history does not hold them all. `next` is the event
   * that comes next (undefined: none), `extent` the history as read. Called before that event,
   * and again wherever the history lost events while the replay paged through it.
   */
  gap(since: EventIdParts, next: EventIdParts | undefined, extent: HistoryExtent): void;
  event(payload: Buffer, id: EventIdParts): void;
  /** Whether to carry on after each read (false: the socket went away, an outage began…). */
  proceed(): boolean;
  /** Resolves when the next page may be read (the reader has taken in the last one). */
  readyForMore?(): Promise<void>;
}

export type ReplayOutcome =
  /** Every event the history holds after `since` was handed over, each hole announced as a gap; `extent` is the history as last read. */
  | { readonly kind: 'done'; readonly extent: HistoryExtent }
  /** `since` names an epoch implausibly far ahead of Redis's clock: nothing was sent. */
  | { readonly kind: 'invalid' }
  | { readonly kind: 'stopped' };

/** The herald.gap for a reader at `since` when the history holds `next` next (undefined: nothing more). */
export function gapFrameBefore(since: EventIdParts, next: EventIdParts | undefined): GapFrame {
  return gapFrame(formatEventId(since), next ? formatEventId(next) : null);
}

// A history restarted behind the reader is read again; it cannot fall behind again so soon
// unless its position keeps vanishing (expiring within milliseconds).
const MAX_RESTARTS = 3;

function follows(previous: EventIdParts, id: EventIdParts): boolean {
  return id.ms === previous.ms && id.seq === previous.seq + 1;
}

function isEnd(position: EventIdParts, extent: HistoryExtent): boolean {
  return position.ms === extent.epoch && position.seq >= extent.count;
}

/**
 * Feeds a user's history after `since` to the handlers, page by page, oldest first. Each event
 * must directly follow the one before (the same epoch, the next number), and the last must be
 * the last the history numbered; wherever that does not hold (trimmed or expired events, a new
 * epoch, even between two pages) a gap notice goes first. Where the history has fallen behind
 * the replay (Redis lost events it had numbered, or the whole history), a new history is
 * started after that point, so no id a reader holds is ever handed out again.
 */
export interface ReplaySource {
  readonly history: HistoryReader;
  /** Every read goes through it. */
  readonly budget: ReadBudget;
  readonly limit: PageLimit;
  readonly userId: string;
  /** The first page, when it was read already (with other users' in one round trip). */
  readonly prefetched?: { readonly after: string; readonly page: HistoryPage };
}

export async function replayHistory(source: ReplaySource, since: string, handlers: ReplayHandlers): Promise<ReplayOutcome> {
  const { history, budget, limit, userId } = source;
  let prefetched = source.prefetched;
  const start = parseEventId(since);
  if (!start) throw new Error(`not an event id: ${JSON.stringify(since)}`);
  let after = start;
  let restarts = 0;
  let gapAnnounced = false;
  const announceGap = (next: EventIdParts | undefined, extent: HistoryExtent) => {
    if (!gapAnnounced) handlers.gap(after, next, extent);
    gapAnnounced = true;
  };
  for (let reads = 0; ; reads++) {
    if (reads > 0 && handlers.readyForMore) {
      await handlers.readyForMore();
      if (!handlers.proceed()) return { kind: 'stopped' };
    }
    const at = formatEventId(after);
    const page =
      prefetched?.after === at
        ? prefetched.page
        : await budget.run(userId, handlers.proceed, () => history.readHistory(userId, at, limit));
    prefetched = undefined;
    if (!page || !handlers.proceed()) return { kind: 'stopped' };
    const extent = page.history;
    if (!extent || isAfterHistory(after, extent)) {
      if (++restarts > MAX_RESTARTS) throw new Error(`the history of a user kept falling behind ${at}`);
      const restart = await history.restartHistoryAfter(userId, at);
      if (!handlers.proceed()) return { kind: 'stopped' };
      if (restart.kind === 'implausible') return { kind: 'invalid' };
      continue; // `after` now lies before the history's epoch: the next read announces the gap
    }
    for (const event of page.events) {
      const id = parseEventId(event.id);
      if (!id) continue;
      if (!follows(after, id)) announceGap(id, extent);
      handlers.event(event.payload, id);
      after = id;
      gapAnnounced = false;
    }
    if (page.events.length < limit.events && !page.truncated) {
      if (!isEnd(after, extent)) announceGap(undefined, extent);
      return { kind: 'done', extent };
    }
  }
}
