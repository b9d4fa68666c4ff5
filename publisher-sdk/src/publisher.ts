import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import {
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_CONFIRM_TIMEOUT_MS,
  DEFAULT_HISTORY_MAX_EVENTS,
  DEFAULT_HISTORY_TTL_SECONDS,
  DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
  DEFAULT_MAX_EVENT_BYTES,
  HeraldValidationError,
  channelNames,
  encodeEventBody,
  parseReceipt,
  validateConfirmTimeout,
  validateEventType,
  validateIdempotencyKey,
  validateRunId,
  validateUserId,
  type BroadcastResult,
  type GoldenPathEventType,
} from '@herald/protocol';
import { HeraldPublishError } from './errors.js';
import { PublisherMetrics } from './metrics.js';
import { runPublishScript } from './publish-script.js';
import { ReceiptInbox, type PendingReceipts, type ReceiptSummary } from './receipt-inbox.js';
import { withRetries, type RetryOptions } from './retry.js';

export interface HistoryOptions {
  /** Events kept per user for clients that resume (approximate, at least this many). Default 1000. */
  readonly maxEvents?: number;
  /** Seconds a user's history is kept after their last event. Default 600. */
  readonly ttlSeconds?: number;
}

export interface PublisherOptions {
  /** Redis to connect to, e.g. `redis://localhost:6379`; the publisher owns and closes this connection. */
  readonly redisUrl?: string;
  /** An ioredis client you own (give either this or `redisUrl`); `close()` leaves it open. */
  readonly redis?: Redis;
  /** Must match the gateways' CHANNEL_PREFIX. Default `herald`. */
  readonly channelPrefix?: string;
  /** Largest encoded event accepted. Default 64 KiB. */
  readonly maxEventBytes?: number;
  readonly history?: HistoryOptions;
  /** Seconds an idempotency key is remembered. Default 300. */
  readonly idempotencyWindowSeconds?: number;
  /** Retries of transient Redis failures (always idempotent). */
  readonly retry?: RetryOptions;
  /**
   * Collect metrics (published, failed, retries, publish latency): `true` for a registry of the
   * publisher's own (`publisher.metrics`), or a prom-client Registry to add them to.
   */
  readonly metrics?: boolean | Registry;
}

export interface PublishOptions {
  /** The agent run this event belongs to. */
  readonly runId?: string;
  /**
   * Publishing again with the same key (within the idempotency window) returns the original
   * event, marked `duplicate`, and sends nothing. Without one, a key is generated per call.
   */
  readonly idempotencyKey?: string;
  /** Wait for every gateway node holding the user's sockets to report its sends. */
  readonly confirm?: boolean;
  /** How long to wait for those reports. Default 2000 ms. */
  readonly timeoutMs?: number;
}

export interface Publisher {
  /**
   * Publishes an event to every open socket of `userId`, on every gateway node. Rejects with
   * HeraldValidationError (nothing sent) for bad input, HeraldPublishError when Redis fails
   * after the retries (the event was then not published, or is found by retrying with the key).
   */
  publish(userId: string, type: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  agentStarted(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  agentThinking(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  toolExecuting(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  toolCompleted(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  agentCompleted(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  /** Stops publishing; closes the Redis connections the publisher opened. */
  close(): Promise<void>;
  /** The registry holding the publisher's metrics, when `metrics` was asked for. */
  readonly metrics: Registry | undefined;
}

function positiveInteger(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new HeraldValidationError('invalid_option', `${field} must be a positive integer (got ${value})`, field);
  }
  return value;
}

function nonNegativeInteger(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new HeraldValidationError('invalid_option', `${field} must be a non-negative integer (got ${value})`, field);
  }
  return value;
}

function connect(options: PublisherOptions): { redis: Redis; owned: boolean } {
  if (options.redis && options.redisUrl !== undefined) {
    throw new HeraldValidationError('invalid_option', 'give either redis or redisUrl, not both', 'redis');
  }
  if (options.redis) return { redis: options.redis, owned: false };
  if (typeof options.redisUrl !== 'string' || !/^rediss?:\/\//.test(options.redisUrl)) {
    throw new HeraldValidationError(
      'invalid_option',
      'redisUrl must be a redis:// or rediss:// URL (or pass an ioredis client as redis)',
      'redisUrl',
    );
  }
  // Commands fail rather than hang; the publisher's own retries (idempotent) take over.
  return { redis: new Redis(options.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 5000 }), owned: true };
}

/** Listens for gateway receipts on this publisher's own channel, from the first confirmed publish on. */
class ReceiptListener {
  readonly inbox = new ReceiptInbox();
  private subscriber: Redis | undefined;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    readonly channel: string,
  ) {}

  start(): Promise<void> {
    this.ready ??= (async () => {
      const subscriber = this.redis.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null });
      this.subscriber = subscriber;
      subscriber.on('message', (_channel: string, message: string) => {
        const receipt = parseReceipt(message);
        if (receipt) this.inbox.deliver(receipt);
      });
      subscriber.on('error', () => {
        // Reconnects by itself; a receipt lost meanwhile shows up as receipt_timeout.
      });
      await subscriber.connect();
      await subscriber.subscribe(this.channel);
    })();
    return this.ready;
  }

  close(): void {
    this.subscriber?.disconnect();
  }
}

export function createPublisher(options: PublisherOptions): Publisher {
  const names = channelNames(options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX);
  const maxEventBytes = positiveInteger(options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES, 'maxEventBytes');
  const maxEvents = positiveInteger(options.history?.maxEvents, DEFAULT_HISTORY_MAX_EVENTS, 'history.maxEvents');
  const ttlSeconds = positiveInteger(options.history?.ttlSeconds, DEFAULT_HISTORY_TTL_SECONDS, 'history.ttlSeconds');
  const idempotencyWindowSeconds = positiveInteger(
    options.idempotencyWindowSeconds,
    DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
    'idempotencyWindowSeconds',
  );
  const retry = {
    retries: nonNegativeInteger(options.retry?.retries, 3, 'retry.retries'),
    baseDelayMs: positiveInteger(options.retry?.baseDelayMs, 50, 'retry.baseDelayMs'),
    maxDelayMs: positiveInteger(options.retry?.maxDelayMs, 1000, 'retry.maxDelayMs'),
  };
  const metrics =
    options.metrics === undefined || options.metrics === false
      ? undefined
      : new PublisherMetrics(options.metrics === true ? undefined : options.metrics);
  const { redis, owned } = connect(options);
  const receipts = new ReceiptListener(redis, names.receipts(randomBytes(12).toString('base64url')));
  let closed = false;

  async function publish(
    userId: string,
    type: string,
    data?: unknown,
    publishOptions: PublishOptions = {},
  ): Promise<BroadcastResult> {
    if (!metrics) return publishOnce(userId, type, data, publishOptions);
    const stop = metrics.duration.startTimer();
    try {
      const result = await publishOnce(userId, type, data, publishOptions);
      metrics.published.labels(String(result.duplicate)).inc();
      return result;
    } catch (error) {
      const code = error instanceof HeraldPublishError || error instanceof HeraldValidationError ? error.code : 'unknown';
      metrics.failed.labels(code).inc();
      throw error;
    } finally {
      stop();
    }
  }

  async function publishOnce(
    userId: string,
    type: string,
    data: unknown,
    publishOptions: PublishOptions,
  ): Promise<BroadcastResult> {
    if (closed) throw new HeraldPublishError('closed', 'publisher is closed');
    const ts = Date.now();
    const body = encodeEventBody(
      {
        type: validateEventType(type),
        ts,
        user_id: validateUserId(userId),
        ...(publishOptions.runId === undefined ? {} : { run_id: validateRunId(publishOptions.runId, 'runId') }),
        data,
      },
      maxEventBytes,
    );
    const idempotencyKey =
      publishOptions.idempotencyKey === undefined
        ? `auto:${randomUUID()}`
        : validateIdempotencyKey(publishOptions.idempotencyKey, 'idempotencyKey');
    const confirm = publishOptions.confirm === true;
    const timeoutMs =
      publishOptions.timeoutMs === undefined
        ? DEFAULT_CONFIRM_TIMEOUT_MS
        : validateConfirmTimeout(publishOptions.timeoutMs, 'timeoutMs');

    let pending: PendingReceipts | undefined;
    let reply;
    try {
      if (confirm) {
        await receipts.start();
        pending = receipts.inbox.expect();
      }
      reply = await withRetries(
        () =>
          runPublishScript(redis, {
            historyKey: names.userHistory(userId),
            sequenceKey: names.userSequence(userId),
            idempotencyKey: names.userIdempotency(userId, idempotencyKey),
            channel: names.userEvents(userId),
            body,
            maxEvents,
            ttlSeconds,
            idempotencyWindowSeconds,
            receiptChannel: confirm ? receipts.channel : undefined,
          }),
        retry,
        () => metrics?.retries.inc(),
      );
    } catch (error) {
      pending?.cancel();
      const reason = error instanceof Error ? error.message : String(error);
      throw new HeraldPublishError('redis_error', `publishing to Redis failed: ${reason}`, { cause: error });
    }
    let delivery: ReceiptSummary | undefined;
    if (pending && reply.duplicate) pending.cancel();
    else if (pending) delivery = await pending.collect(reply.id, reply.receivers, timeoutMs);
    return {
      user_id: userId,
      event_type: type,
      event_id: reply.id,
      // A duplicate's own publish time is not kept; it reports this attempt's.
      timestamp: new Date(ts).toISOString(),
      duplicate: reply.duplicate,
      nodes_reached: reply.receivers,
      connections_attempted: delivery?.connections_attempted ?? null,
      successful_sends: delivery?.successful_sends ?? null,
      errors: delivery?.errors ?? [],
    };
  }

  const goldenPath =
    (type: GoldenPathEventType) =>
    (userId: string, runId: string, data?: unknown, publishOptions: PublishOptions = {}): Promise<BroadcastResult> =>
      publish(userId, type, data, { ...publishOptions, runId });

  return {
    publish,
    agentStarted: goldenPath('agent_started'),
    agentThinking: goldenPath('agent_thinking'),
    toolExecuting: goldenPath('tool_executing'),
    toolCompleted: goldenPath('tool_completed'),
    agentCompleted: goldenPath('agent_completed'),
    async close() {
      if (closed) return;
      closed = true;
      receipts.close();
      if (owned) await redis.quit();
    },
    metrics: metrics?.registry,
  };
}
