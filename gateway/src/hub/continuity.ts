import type { EventIdParts } from '@herald/protocol';

/**
 * Where a live event stands against the newest event a node has for its user:
 *  - `stale`: the node has it already (it came from history, or twice);
 *  - `next`: it follows directly: the next number, or the first event of a newer history (the
 *    node has been subscribed throughout, so nothing of the old one came after what it has);
 *  - `hole`: events between the two are missing; history must fill them first.
 */
export type Continuity = 'stale' | 'next' | 'hole';

export function continuityOf(position: EventIdParts, id: EventIdParts): Continuity {
  if (id.ms < position.ms || (id.ms === position.ms && id.seq <= position.seq)) return 'stale';
  if (id.ms === position.ms) return id.seq === position.seq + 1 ? 'next' : 'hole';
  return id.seq === 1 ? 'next' : 'hole';
}
