import type { BroadcastError } from '@herald/protocol';
import { randomToken } from './random-token.js';
import type { Receipt } from './storage/index.js';

/** What the gateway nodes holding a user's sockets reported about one publish. */
export interface ReceiptSummary {
  /** Sockets the nodes tried to send the event to. */
  readonly connections_attempted: number;
  /** Sockets the event was handed to. */
  readonly successful_sends: number;
  /** What went wrong, e.g. nodes that did not report in time. */
  readonly errors: readonly BroadcastError[];
}

/** The receipts one publish is waiting for. */
export interface PendingReceipts {
  /** The reference the receipts for this publish quote. */
  readonly ref: string;
  /** Waits for one receipt from each of `receivers` nodes, at most `timeoutMs`. */
  collect(receivers: number, timeoutMs: number): Promise<ReceiptSummary>;
  /** The publish failed: nothing to collect. */
  cancel(): void;
}

interface Collector {
  readonly receipts: Map<string, Receipt>;
  readonly receivers: number;
  done(): void;
}

// Receipts can overtake the publish reply (they come on another connection); keep them this long.
const EARLY_RECEIPT_TTL_MS = 30_000;

function summarize(receipts: Iterable<Receipt>, errors: BroadcastError[]): ReceiptSummary {
  let attempted = 0;
  let successful = 0;
  for (const receipt of receipts) {
    attempted += receipt.attempted;
    successful += receipt.successful;
  }
  return { connections_attempted: attempted, successful_sends: successful, errors };
}

/** Matches gateway nodes' receipts to the publishes waiting for them. */
export class ReceiptInbox {
  private readonly collectors = new Map<string, Collector>();
  private readonly early = new Map<string, { readonly receipts: Receipt[]; readonly at: number }>();
  private unresolvedPublishes = 0;

  /** Call before publishing with receipts, so receipts that arrive first are kept; publish with the reference it gives. */
  expect(): PendingReceipts {
    const ref = randomToken();
    this.unresolvedPublishes += 1;
    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        this.unresolvedPublishes -= 1;
      }
    };
    return {
      ref,
      collect: (receivers, timeoutMs) => {
        settle();
        return this.collect(ref, receivers, timeoutMs);
      },
      cancel: settle,
    };
  }

  /** Hands a receipt from a gateway node to the publish waiting for it (or keeps it briefly, if it came first). */
  deliver(receipt: Receipt): void {
    const collector = this.collectors.get(receipt.ref);
    if (collector) {
      collector.receipts.set(receipt.node, receipt);
      if (collector.receipts.size >= collector.receivers) collector.done();
      return;
    }
    this.purgeEarly();
    if (this.unresolvedPublishes === 0) return;
    const early = this.early.get(receipt.ref) ?? { receipts: [], at: Date.now() };
    early.receipts.push(receipt);
    this.early.set(receipt.ref, early);
  }

  private collect(ref: string, receivers: number, timeoutMs: number): Promise<ReceiptSummary> {
    if (receivers === 0) return Promise.resolve(summarize([], []));
    return new Promise((resolve) => {
      const receipts = new Map<string, Receipt>();
      const timer = setTimeout(() => {
        const missing = receivers - receipts.size;
        finish([
          {
            code: 'receipt_timeout',
            message: `${missing} of ${receivers} gateway node(s) did not confirm delivery within ${timeoutMs} ms`,
          },
        ]);
      }, timeoutMs);
      const finish = (errors: BroadcastError[]) => {
        clearTimeout(timer);
        this.collectors.delete(ref);
        resolve(summarize(receipts.values(), errors));
      };
      const collector: Collector = { receipts, receivers, done: () => finish([]) };
      this.collectors.set(ref, collector);
      for (const receipt of this.early.get(ref)?.receipts ?? []) this.deliver(receipt);
      this.early.delete(ref);
    });
  }

  private purgeEarly(): void {
    const cutoff = Date.now() - EARLY_RECEIPT_TTL_MS;
    for (const [id, entry] of this.early) {
      if (entry.at < cutoff) this.early.delete(id);
    }
  }
}
