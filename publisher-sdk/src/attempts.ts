import type { Cluster, Redis } from 'ioredis';

export interface AttemptSettings {
  /** Retries after the first attempt. */
  readonly retries: number;
  /** First backoff ceiling; doubles each retry (full jitter). */
  readonly baseDelayMs: number;
  /** Largest backoff ceiling. */
  readonly maxDelayMs: number;
  /** Longest wait for each command's answer. */
  readonly commandTimeoutMs: number;
}

/** The command was not handed to Redis: it certainly did not run. */
export class NotSentError extends Error {
  override readonly name: string = 'NotSentError';
}

/** Not sent, and never to be: the publisher was closed. Ends the attempts. */
export class ClosedError extends NotSentError {
  override readonly name = 'ClosedError';
}

/**
 * Not sent, and never to be: no usable connection came in the time the publish may wait for one.
 * Ends the attempts.
 */
export class UnreachableError extends NotSentError {
  override readonly name = 'UnreachableError';

  constructor(
    /** The connection that was not ready. */
    readonly connection: Redis | Cluster,
    /** Its ioredis status then: `connect` (connected, waiting for Redis to answer), `reconnecting`… */
    readonly status: string,
  ) {
    super(`Redis was not reachable (connection ${status})`);
  }
}

/** No answer within the deadline: the command may or may not have run. */
export class NoAnswerError extends Error {
  override readonly name = 'NoAnswerError';
}

/**
 * An earlier attempt may have run, and no further attempt can find out: it would go to another
 * Redis server run, which may have lost what that attempt wrote (its record included). Ends the
 * attempts with an unknown outcome rather than risk publishing twice.
 */
export class UndecidableError extends Error {
  override readonly name = 'UndecidableError';
}

/**
 * What a failed command tells about its effect:
 *  - `not_run`, retryable: never sent, or Redis answered that it could not run it now;
 *  - `refused`: Redis answered with an error that a retry would repeat;
 *  - `unknown`: sent, and no answer came (timeout, connection lost): it may have run.
 */
export type FailureKind = 'not_run' | 'refused' | 'unknown';

// Redis error replies after which the same command may succeed (failover, loading, busy script).
// HERALDRUN: the script found another server run than it was given and did nothing (LUA_CHECK_RUN).
// MOVED, ASK: a cluster node does not serve the slot (now); nothing ran, another node will.
const RETRYABLE_REPLY = /^(LOADING|READONLY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|BUSY|NOREPLICAS|HERALDRUN|MOVED|ASK)\b/;

export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof NotSentError) return 'not_run';
  if (error instanceof UndecidableError) return 'unknown';
  if (!(error instanceof Error)) return 'unknown';
  if (error.message.startsWith("Stream isn't writeable")) return 'not_run';
  if (error.name === 'ReplyError') return RETRYABLE_REPLY.test(error.message) ? 'not_run' : 'refused';
  return 'unknown';
}

/**
 * Resolves once the connection can take a command right away, so that a command handed to
 * ioredis is written at once rather than queued: its fate is then either an answer or unknown.
 * Rejects with UnreachableError after `timeoutMs`, or NotSentError when the connection was closed
 * for good.
 */
export function whenReady(redis: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  if (redis.status === 'end') return Promise.reject(new NotSentError('the Redis connection is closed'));
  if (redis.status === 'wait') redis.connect().catch(() => undefined);
  if (timeoutMs <= 0) return Promise.reject(new UnreachableError(redis, redis.status));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new UnreachableError(redis, redis.status)), timeoutMs);
    nextReady(redis).then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

// One wait per connection, however many publishes wait on it (one listener pair, not one each).
const readiness = new WeakMap<Redis | Cluster, Promise<void>>();

function nextReady(redis: Redis | Cluster): Promise<void> {
  let ready = readiness.get(redis);
  if (!ready) {
    ready = new Promise<void>((resolve, reject) => {
      const settle = () => {
        redis.off('ready', onReady);
        redis.off('end', onEnd);
        readiness.delete(redis);
      };
      const onReady = () => {
        settle();
        resolve();
      };
      const onEnd = () => {
        settle();
        reject(new NotSentError('the Redis connection is closed'));
      };
      redis.once('ready', onReady);
      redis.once('end', onEnd);
    });
    ready.catch(() => undefined);
    readiness.set(redis, ready);
  }
  return ready;
}

/** Rejects with NoAnswerError when `promise` has not settled within `timeoutMs`; a late outcome is ignored. */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new NoAnswerError(`no answer from Redis to ${what} within ${timeoutMs} ms`)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export type AttemptsFailure =
  | { readonly kind: 'not_run' | 'refused'; readonly error: unknown }
  /** Some attempt was sent and never answered; `sentAt` is when the first such attempt was sent. */
  | { readonly kind: 'unknown'; readonly error: unknown; readonly sentAt: number };

/** Thrown by `runAttempts` when every attempt failed; says what that means for the operation's effect. */
export class AttemptsExhausted extends Error {
  override readonly name = 'AttemptsExhausted';

  constructor(readonly failure: AttemptsFailure) {
    super(failure.error instanceof Error ? failure.error.message : String(failure.error), { cause: failure.error });
  }
}

/** Failures after which no attempt is made again. */
function endsAttempts(error: unknown): boolean {
  return error instanceof UndecidableError || error instanceof ClosedError || error instanceof UnreachableError;
}

/**
 * Runs `attempt` (an operation safe to repeat) until it succeeds, Redis refuses it, or the
 * retries are spent. `attempt` calls `sent()` right before handing its command to Redis: a
 * failure after that without an answer from Redis makes the outcome unknown. No backoff between
 * attempts lasts past `backoffUntil` (epoch ms): after it, attempts follow one another at once.
 */
export async function runAttempts<T>(
  settings: AttemptSettings,
  attempt: (sent: () => void) => Promise<T>,
  onRetry: () => void = () => {},
  backoffUntil = Number.POSITIVE_INFINITY,
): Promise<T> {
  let unansweredSince: number | undefined;
  for (let retry = 0; ; retry++) {
    let sentAt: number | undefined;
    try {
      return await attempt(() => {
        sentAt = Date.now();
      });
    } catch (error) {
      let kind = classifyFailure(error);
      if (kind === 'unknown' && sentAt === undefined) kind = 'not_run';
      if (kind === 'unknown') unansweredSince ??= sentAt;
      if (kind === 'refused' || retry >= settings.retries || endsAttempts(error)) {
        throw new AttemptsExhausted(
          unansweredSince === undefined
            ? { kind: kind === 'refused' ? 'refused' : 'not_run', error }
            : { kind: 'unknown', error, sentAt: unansweredSince },
        );
      }
      onRetry();
      const ceiling = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** retry);
      const backoff = Math.min(Math.random() * ceiling, Math.max(0, backoffUntil - Date.now()));
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }
}

/** Longest time from the first attempt being sent to the last one being sent (readiness waits included). */
export function retryHorizonMs(settings: AttemptSettings): number {
  return (settings.retries + 1) * 2 * settings.commandTimeoutMs + settings.retries * settings.maxDelayMs;
}
