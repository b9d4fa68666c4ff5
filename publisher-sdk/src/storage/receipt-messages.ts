/**
 * Delivery receipts. A publisher that wants them has the publish script send, right after the
 * event and on the same channel, a receipt request naming the event, where to answer and a
 * reference of the publisher's own. Each gateway node that delivered the event answers there
 * with what it did, quoting the reference: event ids are unique per user only, so two users'
 * events may share one. The event payload itself is never touched.
 */

/** Every receipt request starts with this; event payloads start with `{"id":"`. */
export const RECEIPT_REQUEST_PREFIX = '{"receipt":"';

export interface ReceiptRequest {
  /** Channel to answer on. */
  readonly receipt: string;
  /** The publisher's reference for this publish (base64url); quoted in every receipt. */
  readonly ref: string;
  /** The event this request follows. */
  readonly id: string;
}

export interface Receipt {
  /** The reference of the request this answers. */
  readonly ref: string;
  readonly id: string;
  readonly node: string;
  /** Sockets of the user on that node when the event arrived. */
  readonly attempted: number;
  /** Sockets whose send was accepted (not dropped for backpressure). */
  readonly successful: number;
}

/** The receipt request for event `id`, answered on `channel` quoting `ref` (the publish script builds the same bytes). */
export function receiptRequestPayload(channel: string, ref: string, id: string): string {
  return `${RECEIPT_REQUEST_PREFIX}${channel}","ref":"${ref}","id":"${id}"}`;
}

export function isReceiptRequest(payload: string): boolean {
  return payload.startsWith(RECEIPT_REQUEST_PREFIX);
}

export function parseReceiptRequest(payload: string): ReceiptRequest | undefined {
  if (!isReceiptRequest(payload)) return undefined;
  try {
    const decoded = JSON.parse(payload) as Partial<ReceiptRequest>;
    return typeof decoded.receipt === 'string' && typeof decoded.ref === 'string' && typeof decoded.id === 'string'
      ? { receipt: decoded.receipt, ref: decoded.ref, id: decoded.id }
      : undefined;
  } catch {
    return undefined;
  }
}

export function encodeReceipt(receipt: Receipt): string {
  return JSON.stringify({
    ref: receipt.ref,
    id: receipt.id,
    node: receipt.node,
    attempted: receipt.attempted,
    successful: receipt.successful,
  });
}

export function parseReceipt(payload: string): Receipt | undefined {
  try {
    const decoded = JSON.parse(payload) as Partial<Receipt>;
    if (
      typeof decoded.ref !== 'string' ||
      typeof decoded.id !== 'string' ||
      typeof decoded.node !== 'string' ||
      !Number.isInteger(decoded.attempted) ||
      !Number.isInteger(decoded.successful)
    ) {
      return undefined;
    }
    return { ref: decoded.ref, id: decoded.id, node: decoded.node, attempted: decoded.attempted as number, successful: decoded.successful as number };
  } catch {
    return undefined;
  }
}
