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

/**
 * One user's event stream on this node: their sockets, how far the node has got, and the
 * messages it holds back while it is not live. A stream is live when `held` is undefined; it
 * holds while its position is being read (opening), while history fills a hole (catching up),
 * and while the node has lost its broker connection.
 */
export class UserStream {
  /**
   * The user's sockets on this node. Replaced, never changed in place, so that a socket closing
   * while an event is handed out (uWS may call its close handler from within a send) cannot make
   * the loop skip another; an array, not a Set: a Set costs ~250 bytes per user, most users have
   * one socket, and sockets come and go far less often than events.
   */
  members: readonly Member[] = [];
  /** The newest event this node has for the user; undefined until the opening read returns. */
  position: EventIdParts | undefined;
  /** Messages waiting, in arrival order; undefined when live. */
  held: Buffer[] | undefined = [];
  /** Held messages were dropped for lack of room: history must be read again before going live. */
  overflowed = false;
  /** The outage generation of the catch-up running for this stream, if one is. */
  catchingUp: number | undefined;
  /** Made at the first delivery: most users on a node may never get an event while here. */
  private lastDelivery: Delivery | undefined;

  constructor(readonly userId: string) {}

  addMember(member: Member): void {
    // concat sizes the copy exactly; a spread would reserve room for 17 (−136 B per user).
    if (!this.members.includes(member)) this.members = this.members.concat(member);
  }

  removeMember(member: Member): void {
    if (this.members.includes(member)) this.members = this.members.filter((other) => other !== member);
  }

  /** Holds a message back; past `max` messages drops them all and marks the stream overflowed. */
  hold(payload: Buffer, max: number): void {
    const held = (this.held ??= []);
    if (held.length < max) {
      held.push(payload);
      return;
    }
    held.length = 0;
    this.overflowed = true;
  }

  /** Hands an event to every socket; returns (and remembers) what that achieved. */
  deliver(payload: Buffer, id: EventIdParts): Delivery {
    const delivery = (this.lastDelivery ??= { ms: -1, seq: -1, attempted: 0, successful: 0, sent: 0, refused: 0, tooLarge: 0 });
    delivery.ms = id.ms;
    delivery.seq = id.seq;
    delivery.attempted = this.members.length;
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
    this.advanceTo(id);
    return delivery;
  }

  /** Moves the position forward to `id` (never back). */
  advanceTo(id: EventIdParts): void {
    if (this.position === undefined || compareEventIdParts(id, this.position) > 0) this.position = id;
  }

  /** The sends of event `id`, if it was the last one delivered. */
  deliveryOf(id: EventIdParts): Delivery | undefined {
    const delivery = this.lastDelivery;
    return delivery !== undefined && delivery.ms === id.ms && delivery.seq === id.seq ? delivery : undefined;
  }
}
