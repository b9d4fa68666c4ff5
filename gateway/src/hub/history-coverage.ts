import { compareEventIdParts, type EventIdParts } from '@herald/protocol';
import type { HistoryExtent } from '../broker/broker.js';

/** Whether `since` lies beyond anything the history has numbered (a client bug, or a history rewound). */
export function isAfterHistory(since: EventIdParts, history: HistoryExtent): boolean {
  return since.ms > history.epoch || (since.ms === history.epoch && since.seq > history.count);
}

/**
 * Whether a reader that has everything up to `position` misses anything when the history
 * announces a gap before `next` (the next event it holds; undefined: it holds nothing more,
 * and ends at its count). A reader already at the event before `next`, or beyond, misses nothing.
 */
export function gapConcerns(position: EventIdParts, next: EventIdParts | undefined, history: HistoryExtent): boolean {
  const end = next ? { ms: next.ms, seq: next.seq - 1 } : { ms: history.epoch, seq: history.count };
  return compareEventIdParts(position, end) < 0;
}
