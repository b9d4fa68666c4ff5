import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import {
  DEFAULT_CONFIRM_TIMEOUT_MS,
  DEFAULT_MAX_EVENT_BYTES,
  HeraldValidationError,
  encodeEventBody,
  validateConfirmTimeout,
  validateEventType,
  validateIdempotencyKey,
  validateRunId,
  validateUserId,
  type BroadcastResult,
  type GoldenPathEventType,
} from '@herald/protocol';
import {
  AttemptsExhausted,
  ClosedError,
  NotSentError,
  UndecidableError,
  UnreachableError,
  classifyFailure,
  retryHorizonMs,
  runAttempts,
  whenReady,
  withDeadline,
  type AttemptSettings,
} from './attempts.js';
import { connect } from './connection.js';
import { ConnectionErrors, type ConnectionErrorHandler } from './connection-errors.js';
import { HeraldPublishError, HeraldPublishOutcomeUnknownError } from './errors.js';
import { PublisherMetrics } from './metrics.js';
import { PublishBatcher } from './publish-batcher.js';
import { checkPublishOptions, requireRunId } from './publish-options.js';
import type { PendingReceipts, ReceiptSummary } from './receipt-inbox.js';
import { ReceiptListener } from './receipt-listener.js';
import { randomToken } from './random-token.js';
import { redisLabel } from './redis-address.js';
import { RetentionCache } from './retention-cache.js';
import {
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
  ServerRun,
  isRedirection,
  isWrongRun,
  storageLayout,
  type ScriptPublishReply,
} from './storage/index.js';

/** How the publisher retries a Redis failure; every retry is idempotent. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  readonly retries?: number;
  /** First backoff ceiling; doubles each retry (full jitter). Default 50 ms. */
  readonly baseDelayMs?: number;
  /** Largest backoff ceiling. Default 1000 ms. */
  readonly maxDelayMs?: number;
}

/** How to reach Redis, and the publisher's limits. Give exactly one of `redisUrl`, `redis` and `cluster`. */
export interface PublisherOptions {
  /** Redis to connect to, e.g. `redis://localhost:6379`; the publisher owns and closes this connection. */
  readonly redisUrl?: string;
  /** An ioredis client you own (give one of this, `redisUrl` and `cluster`); `close()` leaves it open. */
  readonly redis?: Redis;
  /**
   * A Redis Cluster: some of its nodes as `host:port` (the publisher finds the rest and owns the
   * connections), or an ioredis Cluster client you own. Events travel by sharded pub/sub.
   */
  readonly cluster?: readonly string[] | Cluster;
  /** Must match the gateways' CHANNEL_PREFIX. Default `herald`. */
  readonly channelPrefix?: string;
  /** Largest encoded event accepted. Default 64 KiB. */
  readonly maxEventBytes?: number;
  /** Seconds an idempotency key you give is remembered. Default 300. */
  readonly idempotencyWindowSeconds?: number;
  /** Retries of transient Redis failures (always idempotent). */
  readonly retry?: RetryOptions;
  /** Longest wait for each answer from Redis. Default 2000 ms. */
  readonly commandTimeoutMs?: number;
  /**
   * Longest a publish waits, from the call, for a usable connection to Redis. While Redis is down,
   * refuses connections or never answers them, every publish rejects within this long, with
   * HeraldPublishError code `unreachable` (or HeraldPublishOutcomeUnknownError, if an attempt of
   * it was sent before Redis went away). Default 2000 ms.
   */
  readonly connectTimeoutMs?: number;
  /**
   * Told when a connection the publisher made cannot reach Redis: the first failure of an outage at
   * once, then at most once every 30 s (with the count since). Nothing is written to the console.
   * An exception it throws is ignored.
   */
  readonly onError?: ConnectionErrorHandler;
  /**
   * Collect metrics (published, failed, retries, publish latency): `true` for a registry of the
   * publisher's own (`publisher.metrics`), or a prom-client Registry to add them to.
   */
  readonly metrics?: boolean | Registry;
}

/** Options of one publish. */
export interface PublishOptions {
  /** The agent run this event belongs to. */
  readonly runId?: string;
  /**
   * Publishing again with the same key (within the idempotency window) returns the original
   * event, marked `duplicate`, and sends nothing. Without one, the SDK uses a key of its own
   * that covers its own retries.
   */
  readonly idempotencyKey?: string;
  /** Wait for every gateway node holding the user's sockets to report its sends. */
  readonly confirm?: boolean;
  /** How long to wait for those reports. Default 2000 ms. */
  readonly timeoutMs?: number;
}

/**
 * Publishes events to users' open Herald sockets, through the Redis the gateways use. Await each
 * event of a run before publishing the next: calls that overlap are stored in no promised order.
 */
export interface Publisher {
  /**
   * Publishes an event to every open socket of `userId`, on every gateway node. Rejects with
   * HeraldValidationError (nothing sent) for bad input, HeraldPublishError when the event was
   * certainly not published, and HeraldPublishOutcomeUnknownError (with the idempotency key to
   * retry with) when Redis may have published it but did not answer.
   */
  publish(userId: string, type: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  /** Publishes `agent_started` for run `runId`: the run began. Rejects as `publish` does. */
  agentStarted(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  /** Publishes `agent_thinking` for run `runId`: the agent is reasoning. Rejects as `publish` does. */
  agentThinking(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  /** Publishes `tool_executing` for run `runId`: a tool call started. Rejects as `publish` does. */
  toolExecuting(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  /** Publishes `tool_completed` for run `runId`: a tool call returned. Rejects as `publish` does. */
  toolCompleted(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  /** Publishes `agent_completed` for run `runId`: the run finished. Rejects as `publish` does. */
  agentCompleted(userId: string, runId: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  /** Stops publishing; closes the Redis connections the publisher opened. */
  close(): Promise<void>;
  /** The registry holding the publisher's metrics, when `metrics` was asked for. */
  readonly metrics: Registry | undefined;
}

/** Keys the SDK makes for calls without one; the form a caller may give back after an unknown outcome. */
const GENERATED_KEY_PREFIX = 'auto:';
// Extra life of a generated key after the SDK's own retry horizon: room for the caller's retry.
const GENERATED_KEY_GRACE_SECONDS = 10;

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

function refuseRemovedOptions(options: PublisherOptions): void {
  if ('history' in options) {
    throw new HeraldValidationError(
      'invalid_option',
      'history is no longer a publisher option: retention is set once, on the gateways ' +
        '(HISTORY_MAX_EVENTS, HISTORY_TTL_SECONDS, HISTORY_POSITION_TTL_SECONDS), and read from Redis',
      'history',
    );
  }
}

function onErrorOption(value: unknown): ConnectionErrorHandler | undefined {
  if (value === undefined || typeof value === 'function') return value as ConnectionErrorHandler | undefined;
  throw new HeraldValidationError('invalid_option', 'onError must be a function', 'onError');
}

/** What a failed publish's error says about where it was sent. */
interface FailureContext {
  /** "Redis at host:port" (or the cluster). */
  readonly label: string;
  /** The label of the connection that did not become ready. */
  readonly labelOf: (unreachable: UnreachableError) => string;
  readonly connectTimeoutMs: number;
  /** Why the publisher's own connections fail now, if they do. */
  readonly lastReason: string | undefined;
}

const STATUS_MEANINGS: Readonly<Record<string, string>> = {
  connect: 'connected, but Redis has not answered',
  connecting: 'still connecting',
  reconnecting: 'reconnecting after failures',
  wait: 'not connected',
};

function failure(error: unknown, idempotencyKey: string, keyLifetimeMs: number, context: FailureContext): Error {
  const exhausted = error instanceof AttemptsExhausted ? error : undefined;
  const cause = exhausted?.failure.error ?? error;
  const reason = cause instanceof Error ? cause.message : String(cause);
  if (exhausted?.failure.kind === 'unknown') {
    const why = cause instanceof UnreachableError ? `it could not be reached again within ${context.connectTimeoutMs} ms` : reason;
    return new HeraldPublishOutcomeUnknownError(
      `${context.label} may have published the event but did not answer (${why}); publish again with idempotencyKey ` +
        `${JSON.stringify(idempotencyKey)} to be sure it is delivered exactly once`,
      idempotencyKey,
      new Date(exhausted.failure.sentAt + keyLifetimeMs),
      { cause },
    );
  }
  if (cause instanceof ClosedError) return new HeraldPublishError('closed', 'the publisher was closed; the event was not published', { cause });
  if (cause instanceof UnreachableError) {
    const why = context.lastReason ?? STATUS_MEANINGS[cause.status] ?? `connection ${cause.status}`;
    return new HeraldPublishError(
      'unreachable',
      `the event was not published: ${context.labelOf(cause)} could not be reached within ${context.connectTimeoutMs} ms (${why})`,
      { cause },
    );
  }
  return new HeraldPublishError('redis_error', `the event was not published: ${reason} (${context.label})`, { cause });
}

/**
 * A publisher on the given Redis. Throws HeraldValidationError for options it cannot use (an
 * unknown name, a bad value, none or several of `redisUrl`, `redis` and `cluster`). It connects in
 * the background: a publish waits for the connection at most `connectTimeoutMs`.
 */
export function createPublisher(options: PublisherOptions): Publisher {
  refuseRemovedOptions(options);
  const layout = storageLayout(options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX);
  const maxEventBytes = positiveInteger(options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES, 'maxEventBytes');
  const idempotencyWindowSeconds = positiveInteger(
    options.idempotencyWindowSeconds,
    DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
    'idempotencyWindowSeconds',
  );
  const attempts: AttemptSettings = {
    retries: nonNegativeInteger(options.retry?.retries, 3, 'retry.retries'),
    baseDelayMs: positiveInteger(options.retry?.baseDelayMs, 50, 'retry.baseDelayMs'),
    maxDelayMs: positiveInteger(options.retry?.maxDelayMs, 1000, 'retry.maxDelayMs'),
    commandTimeoutMs: positiveInteger(options.commandTimeoutMs, 2000, 'commandTimeoutMs'),
  };
  const connectTimeoutMs = positiveInteger(options.connectTimeoutMs, 2000, 'connectTimeoutMs');
  // A generated key only has to outlive the SDK's own retries (and the caller's retry with it).
  const generatedKeySeconds = Math.ceil(retryHorizonMs(attempts) / 1000) + GENERATED_KEY_GRACE_SECONDS;
  const metrics =
    options.metrics === undefined || options.metrics === false
      ? undefined
      : new PublisherMetrics(options.metrics === true ? undefined : options.metrics);
  const errors = new ConnectionErrors(onErrorOption(options.onError));
  const connection = connect(options, errors, attempts.commandTimeoutMs);
  const { shards } = connection;
  const retention = new RetentionCache(shards.shared, layout);
  const batcher = new PublishBatcher(attempts.commandTimeoutMs, shards.sharded);
  const receipts = new ReceiptListener(shards, layout.receipts(randomBytes(12).toString('base64url')), (client) =>
    errors.watch(client, connection.label),
  );
  let closed = false;

  /** Resolves once `client` can take a command now; waits no later than `connectBy` (epoch ms). */
  async function usable(client: Redis | Cluster, connectBy: number): Promise<void> {
    try {
      await whenReady(client, connectBy - Date.now());
    } catch (error) {
      if (closed) throw new ClosedError('the publisher was closed');
      throw error;
    }
  }

  /** The connection to the server that serves the user's keys, ready to take a command now. */
  async function connectionFor(key: string, connectBy: number): Promise<Redis> {
    await usable(shards.shared, connectBy);
    const redis = shards.connectionFor(key);
    if (!redis) throw new NotSentError("the cluster's slot table does not name the user's server now; reading it again");
    await usable(redis, connectBy);
    return redis;
  }

  function failureContext(): FailureContext {
    return {
      label: connection.label(),
      labelOf: (unreachable) => (unreachable.connection === shards.shared ? connection.label() : redisLabel(unreachable.connection as Redis)),
      connectTimeoutMs,
      lastReason: errors.lastReason,
    };
  }

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
      const code = (error as { code?: unknown }).code;
      metrics.failed.labels(typeof code === 'string' ? code : 'unknown').inc();
      throw error;
    } finally {
      stop();
    }
  }

  async function publishOnce(
    userId: string,
    type: string,
    data: unknown,
    options: PublishOptions,
  ): Promise<BroadcastResult> {
    if (closed) throw new HeraldPublishError('closed', 'publisher is closed');
    const connectBy = Date.now() + connectTimeoutMs;
    const publishOptions = checkPublishOptions(options);
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
    const generated = publishOptions.idempotencyKey === undefined;
    const idempotencyKey = generated
      ? `${GENERATED_KEY_PREFIX}${randomToken()}`
      : validateIdempotencyKey(publishOptions.idempotencyKey, 'idempotencyKey');
    const keySeconds = generated ? generatedKeySeconds : idempotencyWindowSeconds;
    const confirm = publishOptions.confirm === true;
    const timeoutMs =
      publishOptions.timeoutMs === undefined
        ? DEFAULT_CONFIRM_TIMEOUT_MS
        : validateConfirmTimeout(publishOptions.timeoutMs, 'timeoutMs');
    // A generated key is known to this call alone: any earlier record under it is this call's own.
    const callToken = generated ? '' : randomToken();
    const names = layout.forUser(userId);

    let pending: PendingReceipts | undefined;
    let reply: ScriptPublishReply;
    // The server run an unanswered attempt went to: a retry must reach the same run to be sure.
    let unansweredOnRun: string | undefined;
    try {
      if (confirm) {
        await usable(shards.shared, connectBy);
        await withDeadline(receipts.start(), attempts.commandTimeoutMs, 'the receipt subscription');
        pending = receipts.inbox.expect();
      }
      reply = await runAttempts(
        attempts,
        async (sent) => {
          const redis = await connectionFor(names.sequence, connectBy);
          const serverRun = ServerRun.of(redis);
          const policy =
            retention.known() ??
            (await withDeadline(retention.get(), attempts.commandTimeoutMs, 'the retention policy').catch((error: unknown) => {
              throw new NotSentError(`reading the retention policy failed: ${(error as Error).message}`);
            }));
          const run =
            serverRun.knownNow() ??
            (await withDeadline(serverRun.current(), attempts.commandTimeoutMs, "the server's run id").catch(
              (error: unknown) => {
                throw new NotSentError(`reading the server's run id failed: ${(error as Error).message}`);
              },
            ));
          if (closed) throw new ClosedError('the publisher was closed');
          if (redis.status !== 'ready') throw new NotSentError(`the Redis connection is ${redis.status}`);
          if (!serverRun.isCurrent(run)) throw new NotSentError('the Redis connection changed');
          if (unansweredOnRun !== undefined && unansweredOnRun !== run.run) {
            throw new UndecidableError(
              'Redis restarted (or failed over) after an unanswered attempt; it may have lost that attempt and its record',
            );
          }
          sent();
          try {
            return await batcher.submit(
              {
                redis,
                settings: {
                  maxEvents: policy.maxEvents,
                  ttlSeconds: policy.ttlSeconds,
                  positionTtlSeconds: policy.positionTtlSeconds,
                  run: run.run,
                },
              },
              {
                historyKey: names.history,
                sequenceKey: names.sequence,
                dedupKey: names.idempotency(idempotencyKey),
                channel: names.events,
                body,
                ts,
                dedupTtlSeconds: keySeconds,
                callToken,
                receipts: pending ? { channel: receipts.channel, ref: pending.ref } : undefined,
              },
            );
          } catch (error) {
            if (classifyFailure(error) === 'unknown') unansweredOnRun ??= run.run;
            // The server's role changed under the connection: read its run again before the retry.
            if (isWrongRun(error)) serverRun.forget();
            // Another cluster node may serve the user's slot now: read the slot table before the retry.
            if (isRedirection(error)) shards.redirected();
            throw error;
          }
        },
        () => metrics?.retries.inc(),
        connectBy,
      );
    } catch (error) {
      pending?.cancel();
      const context = failureContext();
      const rejection = failure(error, idempotencyKey, keySeconds * 1000, context);
      const unreachable = rejection.cause instanceof UnreachableError ? rejection.cause : undefined;
      // An error event reported it already, unless Redis accepted the connection and went silent.
      if (unreachable && context.lastReason === undefined) {
        errors.unusable(context.labelOf(unreachable), STATUS_MEANINGS[unreachable.status] ?? `connection ${unreachable.status}`);
      }
      throw rejection;
    }
    // A duplicate recorded by this very call: an attempt whose answer was lost did publish it.
    const published = reply.duplicate
      ? generated || reply.record.callToken === callToken
        ? { id: reply.record.id, receivers: reply.record.receivers, duplicate: false }
        : { id: reply.record.id, receivers: 0, duplicate: true }
      : { id: reply.id, receivers: reply.receivers, duplicate: false };
    let delivery: ReceiptSummary | undefined;
    if (pending && published.duplicate) pending.cancel();
    else if (pending) delivery = await pending.collect(published.receivers, timeoutMs);
    const eventTs = reply.duplicate ? (reply.record.ts ?? ts) : ts;
    return {
      user_id: userId,
      event_type: type,
      event_id: published.id,
      timestamp: new Date(eventTs).toISOString(),
      duplicate: published.duplicate,
      nodes_reached: published.receivers,
      connections_attempted: delivery?.connections_attempted ?? null,
      successful_sends: delivery?.successful_sends ?? null,
      errors: delivery?.errors ?? [],
    };
  }

  const goldenPath =
    (type: GoldenPathEventType) =>
    async (userId: string, runId: string, data?: unknown, publishOptions: PublishOptions = {}): Promise<BroadcastResult> => {
      requireRunId(runId);
      return publish(userId, type, data, { ...checkPublishOptions(publishOptions), runId });
    };

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
      // Publishes already handed over are answered before the connection goes; later ones are refused.
      await batcher.flush();
      receipts.close();
      await connection.close();
    },
    metrics: metrics?.registry,
  };
}
