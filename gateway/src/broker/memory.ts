import { randomBytes } from 'node:crypto';
import {
  DEFAULT_CONFIRM_TIMEOUT_MS,
  DEFAULT_MAX_EVENT_BYTES,
  compareEventIdParts,
  compareEventIds,
  encodeEventBody,
  formatEventId,
  joinEventPayload,
  parseEventId,
  validatePublishRequest,
  validateUserId,
  type BroadcastResult,
  type PublishRequest,
} from '@herald/protocol';
import { ReceiptInbox } from '@herald/publisher-sdk';
import {
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
  DEFAULT_RETENTION,
  MAX_EPOCH_LEAD_MS,
  receiptRequestPayload,
  storageLayout,
  type HistoryRestart,
  type Receipt,
  type RetentionPolicy,
} from '@herald/publisher-sdk/storage';
import {
  BrokerUnavailableError,
  type Broker,
  type BrokerHealth,
  type BrokerMessageHandler,
  type ConnectionHandler,
  type RenewedHandler,
  type HistoryEvent,
  type HistoryPage,
  type HistoryRequest,
  type PageLimit,
} from './broker.js';

export interface MemoryBusOptions {
  readonly retention?: RetentionPolicy;
  readonly idempotencyWindowSeconds?: number;
  /** Clock in milliseconds (tests move it to expire history). */
  readonly now?: () => number;
  /** How often expired histories and idempotency keys are swept while a broker is started (default 1000). */
  readonly sweepIntervalMs?: number;
}

/** How many entries each of the bus's maps holds. */
export interface MemoryBusSizes {
  readonly histories: number;
  readonly historiesWithEvents: number;
  readonly idempotencyKeys: number;
  readonly subscribedUsers: number;
  readonly receiptInboxes: number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 1000;
/** Entries a sweep removes before yielding to the event loop (a backlog continues at once after). */
const SWEEP_SLICE = 2_000;

interface History {
  /** When this history began: the first part of its event ids. */
  epoch: number;
  /** Events appended so far: the second part of the last event id. */
  count: number;
  entries: { readonly id: string; readonly body: string }[];
  /** When the entries expire (the position lives on until positionExpiresAt). */
  expiresAt: number;
  positionExpiresAt: number;
}

interface Remembered {
  readonly id: string;
  readonly ts: number;
  readonly expiresAt: number;
}

/**
 * Deletes entries from the front of `map` while they have expired, at most `limit` of them, and
 * returns how many it deleted. The map must be kept in expiry order, so the first live entry ends it.
 */
function dropExpired<V>(
  map: Map<string, V>,
  expired: (value: V) => boolean,
  limit: number,
  dropped: (key: string, value: V) => void = () => {},
): number {
  let count = 0;
  for (const [key, value] of map) {
    if (count >= limit || !expired(value)) break;
    map.delete(key);
    dropped(key, value);
    count += 1;
  }
  return count;
}

/**
 * The in-process stand-in for Redis and the publish script: several MemoryBrokers sharing one
 * bus behave like gateway nodes sharing one Redis. History, ids, trimming, expiry, idempotency
 * and receipts follow the same rules.
 *
 * What expires is also swept on a timer, as Redis does, so memory follows the users and keys still
 * alive. To keep each sweep proportional to what expired rather than to what is stored, the maps
 * it sweeps are kept in expiry order: every ttl is the same for all entries, and an entry whose
 * expiry is pushed back is moved to the end. (Should the clock step back, an entry may wait for
 * the one before it; expiry on access is unchanged, so nothing is ever served late.)
 */
export class MemoryBus {
  private readonly subscribers = new Map<string, Set<MemoryBroker>>();
  /** In positionExpiresAt order. */
  private readonly histories = new Map<string, History>();
  /** The histories holding entries, in expiresAt order. */
  private readonly withEntries = new Map<string, History>();
  /** In expiresAt order. */
  private readonly idempotency = new Map<string, Remembered>();
  private readonly inboxes = new Map<string, ReceiptInbox>();
  /** Started brokers: the bus sweeps while it has any. */
  private readonly attached = new Set<MemoryBroker>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly sweepIntervalMs: number;
  /** Epochs handed out, kept increasing so a new history always sorts after an old one. */
  private lastEpoch = 0;
  readonly now: () => number;
  private readonly maxEvents: number;
  private readonly ttlMs: number;
  private readonly positionTtlMs: number;
  private readonly idempotencyMs: number;

  constructor(options: MemoryBusOptions = {}) {
    const retention = options.retention ?? DEFAULT_RETENTION;
    this.now = options.now ?? Date.now;
    this.maxEvents = retention.maxEvents;
    this.ttlMs = retention.ttlSeconds * 1000;
    this.positionTtlMs = retention.positionTtlSeconds * 1000;
    this.idempotencyMs = (options.idempotencyWindowSeconds ?? DEFAULT_IDEMPOTENCY_WINDOW_SECONDS) * 1000;
    this.sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  }

  attach(broker: MemoryBroker): void {
    this.attached.add(broker);
    if (this.sweepTimer === undefined) this.scheduleSweep(this.sweepIntervalMs);
  }

  detach(broker: MemoryBroker): void {
    this.attached.delete(broker);
    this.inboxes.delete(broker.receiptChannel);
    if (this.attached.size === 0) {
      clearTimeout(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  /**
   * Removes expired entries, histories whose position expired and expired idempotency keys, at
   * most `limit` in all; returns whether it removed everything that had expired.
   */
  sweep(limit = SWEEP_SLICE): boolean {
    const now = this.now();
    let left = limit;
    left -= dropExpired(this.withEntries, (history) => history.expiresAt <= now, left, (_, history) => {
      history.entries = [];
    });
    left -= dropExpired(this.histories, (history) => history.positionExpiresAt <= now, left, (userId, history) => {
      this.dropEntries(userId, history);
    });
    left -= dropExpired(this.idempotency, (remembered) => remembered.expiresAt <= now, left);
    return left > 0;
  }

  sizes(): MemoryBusSizes {
    return {
      histories: this.histories.size,
      historiesWithEvents: this.withEntries.size,
      idempotencyKeys: this.idempotency.size,
      subscribedUsers: this.subscribers.size,
      receiptInboxes: this.inboxes.size,
    };
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

  /** The event an idempotency key already produced, if it is still remembered. */
  recall(userId: string, key: string): Remembered | undefined {
    const entry = this.idempotency.get(`${userId}\u0000${key}`);
    return entry && entry.expiresAt > this.now() ? entry : undefined;
  }

  /** The user's position, started now if there is none and kept for another position ttl. */
  open(userId: string): string {
    const history = this.ensureHistory(userId);
    this.keepPosition(userId, history, this.now());
    return formatEventId({ ms: history.epoch, seq: history.count });
  }

  /** Appends to the user's history and delivers the payload (then the receipt request, if any). */
  append(
    userId: string,
    body: string,
    ts: number,
    idempotencyKey: string | undefined,
    receipts: { readonly channel: string; readonly ref: string } | undefined,
  ) {
    const now = this.now();
    const history = this.ensureHistory(userId);
    history.count += 1;
    const id = formatEventId({ ms: history.epoch, seq: history.count });
    history.entries.push({ id, body });
    history.expiresAt = now + this.ttlMs;
    this.withEntries.delete(userId);
    this.withEntries.set(userId, history);
    this.keepPosition(userId, history, now);
    if (history.entries.length > this.maxEvents) history.entries.splice(0, history.entries.length - this.maxEvents);
    if (idempotencyKey !== undefined) {
      const key = `${userId}\u0000${idempotencyKey}`;
      this.idempotency.delete(key);
      this.idempotency.set(key, { id, ts, expiresAt: now + this.idempotencyMs });
    }
    const receivers = this.deliver(userId, Buffer.from(joinEventPayload(id, body)));
    if (receipts !== undefined && receivers > 0) {
      this.deliver(userId, Buffer.from(receiptRequestPayload(receipts.channel, receipts.ref, id)));
    }
    return { id, receivers };
  }

  read(userId: string, after: string, limit: PageLimit): HistoryPage {
    const history = this.livePosition(userId);
    if (!history) return { history: undefined, events: [] };
    const events: HistoryEvent[] = [];
    let bytes = 0;
    let truncated = false;
    for (const entry of history.entries) {
      if (events.length >= limit.events) break;
      if (compareEventIds(entry.id, after) <= 0) continue;
      const size = Buffer.byteLength(entry.body);
      if (events.length > 0 && bytes + size > limit.bytes) {
        truncated = true;
        break;
      }
      bytes += size;
      events.push({ id: entry.id, payload: Buffer.from(joinEventPayload(entry.id, entry.body)) });
    }
    const oldest = history.entries[0];
    return {
      history: { epoch: history.epoch, count: history.count, oldest: oldest ? parseEventId(oldest.id) : undefined },
      events,
      ...(truncated ? { truncated: true } : {}),
    };
  }

  /** Starts a new history after `id` when `id` lies beyond the user's history (see HistoryReader). */
  restartAfter(userId: string, id: string): HistoryRestart {
    const parts = parseEventId(id);
    if (!parts) throw new Error(`not an event id: ${JSON.stringify(id)}`);
    const now = this.now();
    if (parts.ms > now + MAX_EPOCH_LEAD_MS) return { kind: 'implausible' };
    const history = this.livePosition(userId);
    if (history && compareEventIdParts(parts, { ms: history.epoch, seq: history.count }) <= 0) {
      return { kind: 'behind', position: formatEventId({ ms: history.epoch, seq: history.count }) };
    }
    // As in Redis: two users' histories restarted after one id share their epoch.
    const epoch = Math.max(now, parts.ms + 1);
    this.lastEpoch = Math.max(this.lastEpoch, epoch);
    const restarted = history ?? this.ensureHistory(userId);
    restarted.epoch = epoch;
    restarted.count = 0;
    this.keepPosition(userId, restarted, now);
    return { kind: 'restarted', position: formatEventId({ ms: restarted.epoch, seq: 0 }) };
  }

  /** Keeps these users' positions (those that have one) for another position ttl. */
  keep(userIds: readonly string[]): void {
    for (const userId of userIds) {
      const history = this.livePosition(userId);
      if (history) this.keepPosition(userId, history, this.now());
    }
  }

  /** Loses every history and idempotency key, as a Redis restart without persistence does. */
  forget(): void {
    this.histories.clear();
    this.withEntries.clear();
    this.idempotency.clear();
  }

  inbox(channel: string): ReceiptInbox {
    let inbox = this.inboxes.get(channel);
    if (!inbox) {
      inbox = new ReceiptInbox();
      this.inboxes.set(channel, inbox);
    }
    return inbox;
  }

  routeReceipt(channel: string, receipt: Receipt): void {
    this.inboxes.get(channel)?.deliver(receipt);
  }

  private ensureHistory(userId: string): History {
    let history = this.livePosition(userId);
    if (!history) {
      const now = this.now();
      this.lastEpoch = Math.max(now, this.lastEpoch + 1);
      history = { epoch: this.lastEpoch, count: 0, entries: [], expiresAt: now + this.ttlMs, positionExpiresAt: now + this.positionTtlMs };
      this.histories.set(userId, history);
    }
    return history;
  }

  /** The user's history, with its entries dropped once they expired and itself once its position did. */
  private livePosition(userId: string): History | undefined {
    const history = this.histories.get(userId);
    if (!history) return undefined;
    const now = this.now();
    if (history.positionExpiresAt <= now) {
      this.histories.delete(userId);
      this.dropEntries(userId, history);
      return undefined;
    }
    if (history.expiresAt <= now && history.entries.length > 0) this.dropEntries(userId, history);
    return history;
  }

  /** Keeps the position for another position ttl, moving it last to keep `histories` in expiry order. */
  private keepPosition(userId: string, history: History, now: number): void {
    history.positionExpiresAt = now + this.positionTtlMs;
    this.histories.delete(userId);
    this.histories.set(userId, history);
  }

  private dropEntries(userId: string, history: History): void {
    history.entries = [];
    if (this.withEntries.get(userId) === history) this.withEntries.delete(userId);
  }

  private scheduleSweep(delayMs: number): void {
    this.sweepTimer = setTimeout(() => {
      this.scheduleSweep(this.sweep() ? this.sweepIntervalMs : 0);
    }, delayMs);
    this.sweepTimer.unref();
  }

  private deliver(userId: string, payload: Buffer): number {
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
  readonly receiptChannel = storageLayout(DEFAULT_CHANNEL_PREFIX).receipts(randomBytes(9).toString('base64url'));
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
    this.bus.attach(this);
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
    const ts = this.bus.now();
    const base = { user_id: request.user_id, event_type: request.type };
    const previous =
      request.idempotency_key === undefined ? undefined : this.bus.recall(request.user_id, request.idempotency_key);
    if (previous !== undefined) {
      return {
        ...base,
        event_id: previous.id,
        timestamp: new Date(previous.ts).toISOString(),
        duplicate: true,
        nodes_reached: 0,
        connections_attempted: null,
        successful_sends: null,
        errors: [],
      };
    }
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
    const pending = request.confirm ? this.bus.inbox(this.receiptChannel).expect() : undefined;
    const { id, receivers } = this.bus.append(
      request.user_id,
      body,
      ts,
      request.idempotency_key,
      pending ? { channel: this.receiptChannel, ref: pending.ref } : undefined,
    );
    const delivery = pending
      ? await pending.collect(receivers, request.confirm_timeout_ms ?? DEFAULT_CONFIRM_TIMEOUT_MS)
      : undefined;
    return {
      ...base,
      event_id: id,
      timestamp: new Date(ts).toISOString(),
      duplicate: false,
      nodes_reached: receivers,
      connections_attempted: delivery?.connections_attempted ?? null,
      successful_sends: delivery?.successful_sends ?? null,
      errors: delivery?.errors ?? [],
    };
  }

  async openHistory(userId: string): Promise<string> {
    this.assertStarted();
    return this.bus.open(validateUserId(userId));
  }

  async readHistory(userId: string, after: string, limit: PageLimit): Promise<HistoryPage> {
    this.assertStarted();
    return this.bus.read(validateUserId(userId), after, limit);
  }

  async readHistories(reads: readonly HistoryRequest[], limit: PageLimit): Promise<readonly (HistoryPage | undefined)[]> {
    this.assertStarted();
    return reads.map(({ userId, after }) => this.bus.read(validateUserId(userId), after, limit));
  }

  async restartHistoryAfter(userId: string, id: string): Promise<HistoryRestart> {
    this.assertStarted();
    return this.bus.restartAfter(validateUserId(userId), id);
  }

  async keepPositions(userIds: readonly string[]): Promise<void> {
    this.assertStarted();
    this.bus.keep(userIds);
  }

  async sendReceipt(channel: string, receipt: Receipt): Promise<void> {
    this.assertStarted();
    this.bus.routeReceipt(channel, receipt);
  }

  onMessage(handler: BrokerMessageHandler): void {
    this.handler = handler;
  }

  onSubscriptionsRenewed(_handler: RenewedHandler): void {
    // Subscriptions are never lost.
  }

  onConnectionChange(_handler: ConnectionHandler): void {
    // An in-process bus never disconnects.
  }

  /** Called by the bus. Delivery is asynchronous, in publish order, as with Redis. */
  receive(userId: string, payload: Buffer): void {
    queueMicrotask(() => {
      if (this.state === 'started' && this.subscribed.has(userId)) this.handler?.(userId, payload);
    });
  }

  health(): BrokerHealth {
    if (this.state === 'started') {
      return { connected: true, detail: 'embedded in-memory broker', summary: 'the embedded in-memory broker is running' };
    }
    const summary = `the embedded in-memory broker is ${this.state === 'new' ? 'not started' : 'closed'}`;
    return { connected: false, detail: `embedded in-memory broker is ${this.state}`, summary };
  }

  async close(): Promise<void> {
    this.state = 'closed';
    for (const userId of this.subscribed) this.bus.remove(userId, this);
    this.subscribed.clear();
    this.bus.detach(this);
  }

  private assertStarted(): void {
    if (this.state !== 'started') throw new BrokerUnavailableError(`broker is ${this.state}`);
  }
}
