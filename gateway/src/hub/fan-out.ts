import { eventTimestampOfPayload, type EventIdParts } from '@herald/protocol';
import type { GatewayMetrics } from '../metrics.js';
import type { OfferOutcome } from './member.js';
import type { UserStream } from './user-stream.js';

/** Hands events to sockets and counts what became of each send. */
export class FanOut {
  // Label children looked up once: the delivery path does no label hashing.
  private readonly droppedBackpressure;
  private readonly droppedTooLarge;

  constructor(private readonly metrics: GatewayMetrics) {
    this.droppedBackpressure = metrics.eventsDropped.labels('backpressure');
    this.droppedTooLarge = metrics.eventsDropped.labels('too_large');
  }

  /** Offers an event to every socket of its user (each takes it unless it has it already). */
  toUser(user: UserStream, payload: Buffer, id: EventIdParts): void {
    const delivery = user.deliver(payload, id);
    if (delivery.sent > 0) {
      this.metrics.eventsDelivered.inc(delivery.sent);
      const ts = eventTimestampOfPayload(payload);
      if (ts !== undefined) this.metrics.deliveryLatency.observe(Math.max(0, Date.now() - ts) / 1000);
    }
    if (delivery.refused > 0) this.droppedBackpressure.inc(delivery.refused);
    if (delivery.tooLarge > 0) this.droppedTooLarge.inc(delivery.tooLarge);
  }

  /** Counts one send made to one socket outside `toUser` (a resume). */
  count(outcome: OfferOutcome): void {
    if (outcome === 'sent') this.metrics.eventsDelivered.inc();
    else if (outcome === 'refused') this.droppedBackpressure.inc();
    else if (outcome === 'too_large') this.droppedTooLarge.inc();
  }
}
