import { compareEventIdParts, type EventIdParts } from '@herald/protocol';
import type { Member } from './member.js';

/** What delivering one event achieved on this node, kept for its receipt request. */
export interface Delivery {
  ms: number;
  seq: number;
  attempted: number;
  successful: number;
}

/** One user's event stream on this node: their sockets, and how far the node has got. */
export class UserStream {
  readonly members = new Set<Member>();
  /** The newest event this node has for the user: delivered, or already in history when it subscribed. */
  lastId: EventIdParts;
  readonly lastDelivery: Delivery = { ms: -1, seq: -1, attempted: 0, successful: 0 };
  /** Messages held while the node recovers this user after a broker outage. */
  held: Buffer[] | undefined;

  constructor(lastId: EventIdParts) {
    this.lastId = lastId;
  }

  /** Hands a live event to every socket; remembers what that achieved. */
  deliver(payload: Buffer, id: EventIdParts): void {
    const attempted = this.members.size;
    let successful = 0;
    for (const member of this.members) if (member.offer(payload, id)) successful += 1;
    if (compareEventIdParts(id, this.lastId) > 0) this.lastId = id;
    const delivery = this.lastDelivery;
    delivery.ms = id.ms;
    delivery.seq = id.seq;
    delivery.attempted = attempted;
    delivery.successful = successful;
  }

  /** The sends of event `id`, if it was the last one delivered. */
  deliveryOf(id: EventIdParts): Delivery | undefined {
    const delivery = this.lastDelivery;
    return delivery.ms === id.ms && delivery.seq === id.seq ? delivery : undefined;
  }
}
