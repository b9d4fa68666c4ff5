import {
  DEFAULT_MAX_EVENT_BYTES,
  encodeEventBody,
  formatEventId,
  joinEventPayload,
  validatePublishRequest,
  validateUserId,
  type BroadcastResult,
  type PublishRequest,
} from '@herald/protocol';
import { BrokerUnavailableError, type Broker, type BrokerHealth, type BrokerMessageHandler } from './broker.js';

/**
 * The in-process stand-in for Redis: several MemoryBrokers sharing one bus behave like gateway
 * nodes sharing one Redis. Ids follow Redis stream rules: `<ms>-<seq>`, strictly increasing.
 */
export class MemoryBus {
  private readonly subscribers = new Map<string, Set<MemoryBroker>>();
  private lastMs = 0;
  private lastSeq = 0;

  nextEventId(now: number): string {
    if (now > this.lastMs) {
      this.lastMs = now;
      this.lastSeq = 0;
    } else {
      this.lastSeq += 1;
    }
    return formatEventId({ ms: this.lastMs, seq: this.lastSeq });
  }

  add(userId: string, broker: MemoryBroker): void {
    let brokers = this.subscribers.get(userId);
    if (!brokers) {
      brokers = new Set();
      this.subscribers.set(userId, brokers);
    }
    brokers.add(broker);
  }

  remove(userId: string, broker: MemoryBroker): void {
    const brokers = this.subscribers.get(userId);
    if (!brokers) return;
    brokers.delete(broker);
    if (brokers.size === 0) this.subscribers.delete(userId);
  }

  /** Hands the payload to every subscribed broker; returns how many there were. */
  deliver(userId: string, payload: Buffer): number {
    const brokers = this.subscribers.get(userId);
    if (!brokers) return 0;
    for (const broker of brokers) broker.receive(userId, payload);
    return brokers.size;
  }
}

export interface MemoryBrokerOptions {
  /** Share a bus between brokers to model several nodes; default: a private bus (one node). */
  readonly bus?: MemoryBus;
  readonly maxEventBytes?: number;
}

export class MemoryBroker implements Broker {
  readonly kind = 'memory';
  private readonly bus: MemoryBus;
  private readonly maxEventBytes: number;
  private handler: BrokerMessageHandler | undefined;
  private readonly subscribed = new Set<string>();
  private state: 'new' | 'started' | 'closed' = 'new';

  constructor(options: MemoryBrokerOptions = {}) {
    this.bus = options.bus ?? new MemoryBus();
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  }

  async start(): Promise<void> {
    if (this.state === 'closed') throw new BrokerUnavailableError('broker is closed');
    this.state = 'started';
  }

  async subscribe(userId: string): Promise<void> {
    this.assertStarted();
    validateUserId(userId);
    this.subscribed.add(userId);
    this.bus.add(userId, this);
  }

  async unsubscribe(userId: string): Promise<void> {
    this.subscribed.delete(userId);
    this.bus.remove(userId, this);
  }

  async publish(input: PublishRequest): Promise<BroadcastResult> {
    this.assertStarted();
    const request = validatePublishRequest(input);
    const ts = Date.now();
    const body = encodeEventBody(
      {
        type: request.type,
        ts,
        user_id: request.user_id,
        ...(request.run_id === undefined ? {} : { run_id: request.run_id }),
        data: request.data,
      },
      this.maxEventBytes,
    );
    const id = this.bus.nextEventId(ts);
    const nodesReached = this.bus.deliver(request.user_id, Buffer.from(joinEventPayload(id, body)));
    return {
      user_id: request.user_id,
      event_type: request.type,
      event_id: id,
      timestamp: new Date(ts).toISOString(),
      nodes_reached: nodesReached,
      connections_attempted: null,
      successful_sends: null,
      errors: [],
    };
  }

  onMessage(handler: BrokerMessageHandler): void {
    this.handler = handler;
  }

  /** Called by the bus. Delivery is asynchronous, in publish order, as with Redis. */
  receive(userId: string, payload: Buffer): void {
    queueMicrotask(() => {
      if (this.state === 'started' && this.subscribed.has(userId)) this.handler?.(userId, payload);
    });
  }

  health(): BrokerHealth {
    return this.state === 'started'
      ? { connected: true, detail: 'embedded in-memory broker' }
      : { connected: false, detail: `embedded in-memory broker is ${this.state}` };
  }

  async close(): Promise<void> {
    this.state = 'closed';
    for (const userId of this.subscribed) this.bus.remove(userId, this);
    this.subscribed.clear();
  }

  private assertStarted(): void {
    if (this.state !== 'started') throw new BrokerUnavailableError(`broker is ${this.state}`);
  }
}
