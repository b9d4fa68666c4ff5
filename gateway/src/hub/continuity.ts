import type { EventIdParts } from '@herald/protocol';

/**
 * Where a live event stands against the newest event a node has for its user:
 *  - `stale`: the node has it already (it came from history, or twice);
 *  - `next`: the next number of the same history;
 *  - `hole`: events between the two may be missing; history must fill them first. So is the
 *    first event of a newer history: pub/sub may have dropped the last events of the old one,
 *    and only the old history's stream can tell (its replay announces the new epoch as a gap).
 */
export type Continuity = 'stale' | 'next' | 'hole';

export function continuityOf(position: EventIdParts, id: EventIdParts): Continuity {
  if (id.ms < position.ms || (id.ms === position.ms && id.seq <= position.seq)) return 'stale';
  return id.ms === position.ms && id.seq === position.seq + 1 ? 'next' : 'hole';
}
