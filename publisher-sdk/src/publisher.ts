import { Redis } from 'ioredis';
import {
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_HISTORY_MAX_EVENTS,
  DEFAULT_HISTORY_TTL_SECONDS,
  DEFAULT_MAX_EVENT_BYTES,
  HeraldValidationError,
  channelNames,
  encodeEventBody,
  validateEventType,
  validateRunId,
  validateUserId,
  type BroadcastResult,
  type GoldenPathEventType,
} from '@herald/protocol';
import { HeraldPublishError } from './errors.js';
import { runPublishScript } from './publish-script.js';

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
}

export interface PublishOptions {
  /** The agent run this event belongs to. */
  readonly runId?: string;
}

export interface Publisher {
  /**
   * Publishes an event to every open socket of `userId`, on every gateway node. Rejects with
   * HeraldValidationError (nothing sent) for bad input, HeraldPublishError when Redis fails.
   */
  publish(userId: string, type: string, data?: unknown, options?: PublishOptions): Promise<BroadcastResult>;
  agentStarted(userId: string, runId: string, data?: unknown): Promise<BroadcastResult>;
  agentThinking(userId: string, runId: string, data?: unknown): Promise<BroadcastResult>;
  toolExecuting(userId: string, runId: string, data?: unknown): Promise<BroadcastResult>;
  toolCompleted(userId: string, runId: string, data?: unknown): Promise<BroadcastResult>;
  agentCompleted(userId: string, runId: string, data?: unknown): Promise<BroadcastResult>;
  /** Stops publishing; closes the Redis connection if the publisher opened it. */
  close(): Promise<void>;
}

function positiveInteger(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new HeraldValidationError('invalid_option', `${field} must be a positive integer (got ${value})`, field);
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
  return { redis: new Redis(options.redisUrl, { maxRetriesPerRequest: 3 }), owned: true };
}

export function createPublisher(options: PublisherOptions): Publisher {
  const names = channelNames(options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX);
  const maxEventBytes = positiveInteger(options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES, 'maxEventBytes');
  const maxEvents = positiveInteger(options.history?.maxEvents, DEFAULT_HISTORY_MAX_EVENTS, 'history.maxEvents');
  const ttlSeconds = positiveInteger(options.history?.ttlSeconds, DEFAULT_HISTORY_TTL_SECONDS, 'history.ttlSeconds');
  const { redis, owned } = connect(options);
  let closed = false;

  async function publish(
    userId: string,
    type: string,
    data?: unknown,
    publishOptions: PublishOptions = {},
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
    let reply;
    try {
      reply = await runPublishScript(redis, {
        historyKey: names.userHistory(userId),
        channel: names.userEvents(userId),
        body,
        maxEvents,
        ttlSeconds,
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new HeraldPublishError('redis_error', `publishing to Redis failed: ${reason}`, { cause: error });
    }
    return {
      user_id: userId,
      event_type: type,
      event_id: reply.id,
      timestamp: new Date(ts).toISOString(),
      nodes_reached: reply.receivers,
      connections_attempted: null,
      successful_sends: null,
      errors: [],
    };
  }

  const goldenPath =
    (type: GoldenPathEventType) =>
    (userId: string, runId: string, data?: unknown): Promise<BroadcastResult> =>
      publish(userId, type, data, { runId });

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
      if (owned) await redis.quit();
    },
  };
}
