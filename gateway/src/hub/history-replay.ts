import { formatEventId, parseEventId, type EventIdParts } from '@herald/protocol';
import type { HistoryExtent, HistoryReader } from '../broker/broker.js';
import { isAfterHistory } from './history-coverage.js';

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
}

export type ReplayOutcome =
  /** Every event the history holds after `since` was handed over, each hole announced as a gap; `extent` is the history as last read. */
  | { readonly kind: 'done'; readonly replayed: number; readonly extent: HistoryExtent }
  /** `since` names an epoch implausibly far ahead of Redis's clock: nothing was sent. */
  | { readonly kind: 'invalid' }
  | { readonly kind: 'stopped' };

// A history restarted behind the reader is read again; it cannot fall behind again so soon
// unless its position keeps vanishing (expiring within milliseconds).
const MAX_RESTARTS = 3;

function follows(previous: EventIdParts, id: EventIdParts): boolean {
  return id.ms === previous.ms && id.seq === previous.seq + 1;
}

function isEnd(position: EventIdParts, extent: HistoryExtent): boolean {
  return position.ms === extent.epoch && position.seq >= extent.count;
}

/** Where a replay starts: after `since`; `sinceTs` is the time of the event the reader holds there, if known. */
export interface ReplayStart {
  readonly since: string;
  readonly sinceTs?: number | undefined;
}

/**
 * Feeds a user's history after `since` to the handlers, page by page, oldest first. Each event
 * must directly follow the one before (the same epoch, the next number), and the last must be
 * the last the history numbered; wherever that does not hold (trimmed or expired events, a new
 * epoch, even between two pages) a gap notice goes first.
 *
 * Redis may lose events it had acknowledged (a restart from an older snapshot, a replica promoted
 * before it had them). Where the history has fallen behind the reader, or holds another event at
 * `since` than the reader has (publishes reused the lost ids), a new history is started after
 * that point and the reader is told of a gap: no id it holds is ever handed out again, and no
 * event under a reused id is passed off as the continuation of what it has.
 */
export async function replayHistory(
  history: HistoryReader,
  userId: string,
  from: ReplayStart,
  pageSize: number,
  handlers: ReplayHandlers,
): Promise<ReplayOutcome> {
  const start = parseEventId(from.since);
  if (!start) throw new Error(`not an event id: ${JSON.stringify(from.since)}`);
  let after = start;
  let verifyTs = from.sinceTs;
  let replayed = 0;
  let restarts = 0;
  let gapAnnounced = false;
  /** Set when the history was replaced under the reader: the gap is announced from there. */
  let replacedAt: EventIdParts | undefined;
  const announceGap = (next: EventIdParts | undefined, extent: HistoryExtent) => {
    if (!gapAnnounced) handlers.gap(replacedAt ?? after, next, extent);
    gapAnnounced = true;
    replacedAt = undefined;
  };
  for (;;) {
    const at = formatEventId(after);
    const page = await history.readHistory(userId, at, pageSize);
    if (!handlers.proceed()) return { kind: 'stopped' };
    const extent = page.history;
    const beyond = !extent || isAfterHistory(after, extent);
    const replaced = !beyond && verifyTs !== undefined && page.afterTs !== undefined && page.afterTs !== verifyTs;
    verifyTs = undefined;
    if (beyond || replaced) {
      if (++restarts > MAX_RESTARTS) throw new Error(`the history of a user kept falling behind ${at}`);
      const restart = await history.restartHistoryAfter(userId, at, replaced);
      if (!handlers.proceed()) return { kind: 'stopped' };
      if (restart.kind === 'implausible') return { kind: 'invalid' };
      if (replaced) {
        // The entries after `after` in its epoch reuse lost ids: go on from the new history's start.
        replacedAt = after;
        after = { ms: parseEventId(restart.position)?.ms ?? after.ms + 1, seq: 0 };
      }
      continue; // the next read announces the gap
    }
    for (const event of page.events) {
      const id = parseEventId(event.id);
      if (!id) continue;
      if (replacedAt || !follows(after, id)) announceGap(id, extent);
      handlers.event(event.payload, id);
      replayed += 1;
      after = id;
      gapAnnounced = false;
    }
    if (page.events.length < pageSize) {
      if (replacedAt || !isEnd(after, extent)) announceGap(undefined, extent);
      return { kind: 'done', replayed, extent };
    }
  }
}
