export { HeraldValidationError, type ValidationCode } from '@herald/protocol';

/**
 * `unreachable`: no usable connection to Redis within `connectTimeoutMs`; `redis_error`: Redis
 * refused the publish, or failed it before it ran; `closed`: the publisher was closed.
 */
export type PublishErrorCode = 'redis_error' | 'unreachable' | 'closed' | 'outcome_unknown';

/** The event was not published: nothing was stored or delivered. Safe to retry. */
export class HeraldPublishError extends Error {
  override readonly name: string = 'HeraldPublishError';
  readonly code: Exclude<PublishErrorCode, 'outcome_unknown'>;

  constructor(code: Exclude<PublishErrorCode, 'outcome_unknown'>, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The SDK cannot tell whether the event was published: a request reached Redis, but no answer
 * came back. Publishing again with `idempotencyKey` before `retryBefore` is safe: the event is
 * then stored and delivered exactly once, and the result names it.
 */
export class HeraldPublishOutcomeUnknownError extends Error {
  override readonly name = 'HeraldPublishOutcomeUnknownError';
  readonly code = 'outcome_unknown' as const;

  constructor(
    message: string,
    /** The key the SDK published with (yours, or the one it generated). */
    readonly idempotencyKey: string,
    /** Until when Redis remembers the key for certain; a retry after it may publish a second copy. */
    readonly retryBefore: Date,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Given to the `onError` option, never thrown: a connection the publisher made cannot reach
 * Redis. The first failure of an outage is reported at once, then at most one report every 30 s
 * (`failures` counts those since the previous report); publishes meanwhile reject on their own.
 */
export class HeraldConnectionError extends Error {
  override readonly name = 'HeraldConnectionError';

  constructor(
    message: string,
    /** Failed attempts to connect (or lost connections) since the previous report, this one included. */
    readonly failures: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
