import type { BroadcastResult, PublishRequest } from '@herald/protocol';
import type { HistoryRestart, Receipt } from '@herald/publisher-sdk/storage';
import type {
  RenewedHandler,
  Broker,
  BrokerHealth,
  BrokerMessageHandler,
  ConnectionHandler,
  HistoryPage,
  HistoryRequest,
  PageLimit,
} from '../../src/broker/broker.js';
import { MemoryBroker, type MemoryBus } from '../../src/broker/memory.js';

/**
 * A memory broker whose subscriber connection can be cut and restored, and whose live deliveries
 * can lag behind history, for driving the hub through outages and races deterministically.
 */
export class OutageBroker implements Broker {
  readonly kind = 'memory';
  private readonly inner: MemoryBroker;
  private handler: BrokerMessageHandler | undefined;
  private connectionHandler: ConnectionHandler | undefined;
  private connected = true;
  /** Live messages arrive this much later than they are recorded in history. */
  liveDelayMs = 0;
  /** Make the next history reads fail. */
  failHistoryReads = false;
  /** History reads take this long. */
  historyDelayMs = 0;
  /** The answer to a position read arrives this much after the read (live messages may overtake it). */
  openAnswerDelayMs = 0;
  /** Live messages for which this returns true are lost silently, the connection staying up. */
  loseLive: (userId: string, payload: Buffer) => boolean = () => false;

  constructor(bus: MemoryBus) {
    this.inner = new MemoryBroker({ bus });
    this.inner.onMessage((userId, payload) => {
      if (!this.connected) return; // lost with the connection
      if (this.loseLive(userId, payload)) return;
      const deliver = () => {
        if (this.connected) this.handler?.(userId, payload);
      };
      if (this.liveDelayMs > 0) setTimeout(deliver, this.liveDelayMs);
      else deliver();
    });
  }

  /** The subscriber connection drops: messages are lost until `restore`. */
  cut(): void {
    this.connected = false;
    this.connectionHandler?.(false);
  }

  restore(): void {
    this.connected = true;
    this.connectionHandler?.(true);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  subscribe(userId: string): Promise<void> {
    return this.inner.subscribe(userId);
  }

  unsubscribe(userId: string): Promise<void> {
    return this.inner.unsubscribe(userId);
  }

  publish(request: PublishRequest): Promise<BroadcastResult> {
    return this.inner.publish(request);
  }

  async openHistory(userId: string): Promise<string> {
    const position = await this.inner.openHistory(userId);
    if (this.openAnswerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.openAnswerDelayMs));
    return position;
  }

  async readHistory(userId: string, after: string, limit: PageLimit): Promise<HistoryPage> {
    if (this.failHistoryReads) throw new Error('history unavailable');
    if (this.historyDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.historyDelayMs));
    return this.inner.readHistory(userId, after, limit);
  }

  async readHistories(reads: readonly HistoryRequest[], limit: PageLimit): Promise<readonly (HistoryPage | undefined)[]> {
    if (this.failHistoryReads) throw new Error('history unavailable');
    if (this.historyDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.historyDelayMs));
    return this.inner.readHistories(reads, limit);
  }

  restartHistoryAfter(userId: string, id: string): Promise<HistoryRestart> {
    return this.inner.restartHistoryAfter(userId, id);
  }

  keepPositions(userIds: readonly string[]): Promise<void> {
    return this.inner.keepPositions(userIds);
  }

  sendReceipt(channel: string, receipt: Receipt): Promise<void> {
    return this.inner.sendReceipt(channel, receipt);
  }

  onMessage(handler: BrokerMessageHandler): void {
    this.handler = handler;
  }

  onConnectionChange(handler: ConnectionHandler): void {
    this.connectionHandler = handler;
  }

  onSubscriptionsRenewed(handler: RenewedHandler): void {
    this.inner.onSubscriptionsRenewed(handler);
  }

  health(): BrokerHealth {
    return this.connected ? this.inner.health() : { connected: false, detail: 'cut', summary: 'the broker is cut off' };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
