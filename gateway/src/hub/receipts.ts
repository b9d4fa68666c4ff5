import type { Logger } from 'pino';
import { parseEventId } from '@herald/protocol';
import { parseReceiptRequest } from '@herald/publisher-sdk/storage';
import type { ReceiptSender } from '../broker/broker.js';
import type { GatewayMetrics } from '../metrics.js';
import type { UserStream } from './user-stream.js';

/** Answers the receipt requests that follow events on user channels with what this node sent. */
export class ReceiptAnswers {
  private readonly requests;

  constructor(
    private readonly sender: ReceiptSender,
    private readonly nodeId: string,
    private readonly logger: Logger,
    metrics: GatewayMetrics,
  ) {
    this.requests = metrics.brokerMessages.labels('receipt_request');
  }

  /** `user` is undefined when the node no longer follows the user: the answer is then zero sends. */
  answer(user: UserStream | undefined, payload: Buffer): void {
    this.requests.inc();
    const request = parseReceiptRequest(payload.toString('utf8'));
    if (!request) {
      this.logger.warn('ignoring a message that is neither an event nor a receipt request');
      return;
    }
    const id = parseEventId(request.id);
    const delivery = user && id ? user.deliveryOf(id) : undefined;
    const receipt = {
      ref: request.ref,
      id: request.id,
      node: this.nodeId,
      attempted: delivery?.attempted ?? 0,
      successful: delivery?.successful ?? 0,
    };
    this.sender.sendReceipt(request.receipt, receipt).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'sending a delivery receipt failed');
    });
  }
}
