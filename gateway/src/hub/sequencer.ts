import { eventIdPartsOfPayload } from '@herald/protocol';
import type { GatewayMetrics } from '../metrics.js';
import { continuityOf } from './continuity.js';
import type { FanOut } from './fan-out.js';
import type { ReceiptAnswers } from './receipts.js';
import type { UserStream } from './user-stream.js';

/**
 * Puts each broker message for a followed user where it belongs: held while the stream is not
 * live; otherwise, by its number, dropped (already had), handed to the sockets (the next one),
 * or held while history fills the hole in front of it. A receipt request is answered in turn.
 */
export class Sequencer {
  private readonly events;
  private readonly holes;

  constructor(
    private readonly fanOut: FanOut,
    private readonly receipts: ReceiptAnswers,
    metrics: GatewayMetrics,
    private readonly maxHeld: number,
    /** Told when a stream starts holding because of a hole; it must catch the stream up. */
    private readonly onHole: (user: UserStream) => void,
  ) {
    this.events = metrics.brokerMessages.labels('event');
    this.holes = metrics.sequenceHoles;
  }

  accept(user: UserStream, payload: Buffer): void {
    if (user.held) user.hold(payload, this.maxHeld);
    else this.dispatch(user, payload);
  }

  /** Goes live with what was held, in order; a hole on the way makes the stream hold the rest again. */
  release(user: UserStream): void {
    const held = user.held ?? [];
    user.held = undefined;
    for (const payload of held) this.accept(user, payload);
  }

  private dispatch(user: UserStream, payload: Buffer): void {
    const id = eventIdPartsOfPayload(payload);
    if (!id) {
      this.receipts.answer(user, payload);
      return;
    }
    this.events.inc();
    const position = user.position;
    if (position === undefined) throw new Error('a stream went live before its position was known');
    switch (continuityOf(position, id)) {
      case 'stale':
        return;
      case 'next':
        this.fanOut.toUser(user, payload, id);
        return;
      case 'hole':
        this.holes.inc();
        user.held = [payload];
        this.onHole(user);
        return;
    }
  }
}
