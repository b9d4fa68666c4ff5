import { formatEventId, parseEventId, type EventIdParts } from '@herald/protocol';
import type { HistoryExtent, HistoryReader } from '../broker/broker.js';
import { historyCoversSince, isAfterHistory } from './history-coverage.js';

export interface ReplayHandlers {
  /** Events after `since` may be missing; `oldest` is the oldest still held. Called at most once, first. */
  gap(oldest: string | null): void;
  event(payload: Buffer, id: EventIdParts): void;
  /** Whether to carry on after each page (false: the socket went away, an outage began…). */
  proceed(): boolean;
}

export type ReplayOutcome =
  /** Every event the history holds after `since` was handed over; `extent` is the history as last read. */
  | { readonly kind: 'done'; readonly replayed: number; readonly extent: HistoryExtent | undefined }
  /** `since` lies beyond anything the history numbered: it was reset behind the reader. */
  | { readonly kind: 'future'; readonly extent: HistoryExtent }
  | { readonly kind: 'stopped' };

/**
 * Feeds a user's history after `since` to the handlers, page by page, oldest first, after a gap
 * notice when the history cannot vouch for all of it. A `since` beyond anything the history has
 * numbered is refused ('future') before anything is sent.
 */
export async function replayHistory(
  history: HistoryReader,
  userId: string,
  since: string,
  pageSize: number,
  handlers: ReplayHandlers,
): Promise<ReplayOutcome> {
  const start = parseEventId(since);
  if (!start) throw new Error(`not an event id: ${JSON.stringify(since)}`);
  let after = since;
  let replayed = 0;
  for (let first = true; ; first = false) {
    const page = await history.readHistory(userId, after, pageSize);
    if (!handlers.proceed()) return { kind: 'stopped' };
    if (first) {
      if (page.history && isAfterHistory(start, page.history)) return { kind: 'future', extent: page.history };
      if (!historyCoversSince(start, page.history)) {
        const oldest = page.history?.oldest;
        handlers.gap(oldest ? formatEventId(oldest) : null);
      }
    }
    for (const event of page.events) {
      const id = parseEventId(event.id);
      if (!id) continue;
      handlers.event(event.payload, id);
      replayed += 1;
    }
    const last = page.events.at(-1);
    if (page.events.length < pageSize || !last) return { kind: 'done', replayed, extent: page.history };
    after = last.id;
  }
}
