import { compareEventIdParts, type EventIdParts } from '@herald/protocol';
import type { Member } from './member.js';

/** What delivering one event achieved on this node, kept for its receipt request and metrics. */
export interface Delivery {
  ms: number;
  seq: number;
  attempted: number;
  /** Sends accepted, events held for resuming sockets, and sockets that already had the event. */
  successful: number;
  /** Sends that happened (for metrics: not held, not skipped). */
  sent: number;
  refused: number;
  tooLarge: number;
}

/** One user's event stream on this node: their sockets, and how far the node has got. */
export class UserStream {
  readonly members = new Set<Member>();
  /** The newest event this node has for the user: delivered, or already in history when it subscribed. */
  lastId: EventIdParts;
  readonly lastDelivery: Delivery = { ms: -1, seq: -1, attempted: 0, successful: 0, sent: 0, refused: 0, tooLarge: 0 };
  /** Messages held while the node recovers this user after a broker outage. */
  held: Buffer[] | undefined;

  constructor(lastId: EventIdParts) {
    this.lastId = lastId;
  }

  /** Hands an event to every socket; returns (and remembers) what that achieved. */
  deliver(payload: Buffer, id: EventIdParts): Delivery {
    const delivery = this.lastDelivery;
    delivery.ms = id.ms;
    delivery.seq = id.seq;
    delivery.attempted = this.members.size;
    delivery.successful = delivery.sent = delivery.refused = delivery.tooLarge = 0;
    for (const member of this.members) {
      switch (member.offer(payload, id)) {
        case 'sent':
          delivery.sent += 1;
          delivery.successful += 1;
          break;
        case 'held':
        case 'skipped':
          delivery.successful += 1;
          break;
        case 'refused':
          delivery.refused += 1;
          break;
        case 'too_large':
          delivery.tooLarge += 1;
          break;
      }
    }
    if (compareEventIdParts(id, this.lastId) > 0) this.lastId = id;
    return delivery;
  }

  /** The sends of event `id`, if it was the last one delivered. */
  deliveryOf(id: EventIdParts): Delivery | undefined {
    const delivery = this.lastDelivery;
    return delivery.ms === id.ms && delivery.seq === id.seq ? delivery : undefined;
  }
}
