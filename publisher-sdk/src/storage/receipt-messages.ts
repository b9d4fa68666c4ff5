/**
 * Delivery receipts. A publisher that wants them has the publish script send, right after the
 * event and on the same channel, a receipt request naming the event and where to answer. Each
 * gateway node that delivered the event answers there with what it did. The event payload
 * itself is never touched.
 */

/** Every receipt request starts with this; event payloads start with `{"id":"`. */
export const RECEIPT_REQUEST_PREFIX = '{"receipt":"';

export interface ReceiptRequest {
  /** Channel to answer on. */
  readonly receipt: string;
  /** The event this request follows. */
  readonly id: string;
}

export interface Receipt {
  readonly id: string;
  readonly node: string;
  /** Sockets of the user on that node when the event arrived. */
  readonly attempted: number;
  /** Sockets whose send was accepted (not dropped for backpressure). */
  readonly successful: number;
}

/** The receipt request for event `id`, answered on `channel` (the publish script builds the same bytes). */
export function receiptRequestPayload(channel: string, id: string): string {
  return `${RECEIPT_REQUEST_PREFIX}${channel}","id":"${id}"}`;
}

export function isReceiptRequest(payload: string): boolean {
  return payload.startsWith(RECEIPT_REQUEST_PREFIX);
}

export function parseReceiptRequest(payload: string): ReceiptRequest | undefined {
  if (!isReceiptRequest(payload)) return undefined;
  try {
    const decoded = JSON.parse(payload) as Partial<ReceiptRequest>;
    return typeof decoded.receipt === 'string' && typeof decoded.id === 'string'
      ? { receipt: decoded.receipt, id: decoded.id }
      : undefined;
  } catch {
    return undefined;
  }
}

export function encodeReceipt(receipt: Receipt): string {
  return JSON.stringify({ id: receipt.id, node: receipt.node, attempted: receipt.attempted, successful: receipt.successful });
}

export function parseReceipt(payload: string): Receipt | undefined {
  try {
    const decoded = JSON.parse(payload) as Partial<Receipt>;
    if (
      typeof decoded.id !== 'string' ||
      typeof decoded.node !== 'string' ||
      !Number.isInteger(decoded.attempted) ||
      !Number.isInteger(decoded.successful)
    ) {
      return undefined;
    }
    return { id: decoded.id, node: decoded.node, attempted: decoded.attempted as number, successful: decoded.successful as number };
  } catch {
    return undefined;
  }
}
