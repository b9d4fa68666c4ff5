import { formatEventId, historyCoversSince, isAfterHistory, parseEventId, type EventIdParts } from '@herald/protocol';
import type { Broker } from '../broker/broker.js';

export interface ReplayHandlers {
  /** Events after `since` may be missing; `oldest` is the oldest still held. Called at most once, first. */
  gap(oldest: string | null): void;
  event(payload: Buffer, id: EventIdParts): void;
  /** Whether to carry on after each page (false: the socket went away, an outage began…). */
  proceed(): boolean;
}

export type ReplayOutcome = { readonly kind: 'done'; readonly replayed: number } | { readonly kind: 'future' } | { readonly kind: 'stopped' };

/**
 * Feeds a user's history after `since` to the handlers, page by page, oldest first, after a gap
 * notice when the history cannot vouch for all of it. A `since` beyond anything the history has
 * numbered is refused ('future') before anything is sent.
 */
export async function replayHistory(
  broker: Broker,
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
    const page = await broker.readHistory(userId, after, pageSize);
    if (!handlers.proceed()) return { kind: 'stopped' };
    if (first) {
      if (page.history && isAfterHistory(start, page.history)) return { kind: 'future' };
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
    if (page.events.length < pageSize || !last) return { kind: 'done', replayed };
    after = last.id;
  }
}
