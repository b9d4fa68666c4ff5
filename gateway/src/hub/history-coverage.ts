import type { EventIdParts } from '@herald/protocol';
import type { HistoryExtent } from '../broker/broker.js';

/** Whether `since` lies beyond anything the history has numbered (a client bug, or a history rewound). */
export function isAfterHistory(since: EventIdParts, history: HistoryExtent): boolean {
  return since.ms > history.epoch || (since.ms === history.epoch && since.seq > history.count);
}

/**
 * Whether the history vouches for every event after `since`: `since` belongs to the current
 * history (same epoch), and none of that history's events after it are gone. The position
 * outlives the events, so a `since` at the end of an expired history is still covered.
 */
export function historyCoversSince(since: EventIdParts, history: HistoryExtent | undefined): boolean {
  if (!history || since.ms !== history.epoch) return false;
  if (since.seq >= history.count) return true;
  const oldest = history.oldest;
  if (!oldest) return false;
  return oldest.ms < history.epoch || since.seq + 1 >= oldest.seq;
}
