import type { BroadcastResult } from '@herald/protocol';

/** What a BroadcastResult looks like before delivery receipts exist. */
export function broadcastResultLike(
  fields: Pick<BroadcastResult, 'user_id' | 'event_type' | 'nodes_reached'>,
): Record<keyof BroadcastResult, unknown> {
  return {
    ...fields,
    event_id: expect.stringMatching(/^\d+-\d+$/),
    timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    duplicate: false,
    connections_attempted: null,
    successful_sends: null,
    errors: [],
  };
}
