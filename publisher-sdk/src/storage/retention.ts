import type { Cluster, Redis } from 'ioredis';
import type { StorageLayout } from './layout.js';

/**
 * How long Herald keeps what it stores per user. One policy per deployment: the gateways are
 * configured with it (HISTORY_MAX_EVENTS, HISTORY_TTL_SECONDS, HISTORY_POSITION_TTL_SECONDS) and
 * write it to Redis; every publisher reads it from there, so no publisher can trim or expire a
 * user's history differently from the others.
 */
export interface RetentionPolicy {
  /** Events kept per user for clients that resume (approximate trim, at least this many). */
  readonly maxEvents: number;
  /** Seconds a user's history is kept after their last event. */
  readonly ttlSeconds: number;
  /**
   * Seconds a user's position (history epoch and event count) is kept after their last event or
   * connection. Longer than the history, so a client that missed nothing can resume after its
   * history expired without being told of a gap.
   */
  readonly positionTtlSeconds: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  maxEvents: 1000,
  ttlSeconds: 600,
  positionTtlSeconds: 7 * 24 * 3600,
};

/** Seconds a caller's idempotency key is remembered: a retry within it returns the original event. */
export const DEFAULT_IDEMPOTENCY_WINDOW_SECONDS = 300;

export const RETENTION_LIMITS = {
  maxEvents: { min: 1, max: 1_000_000 },
  ttlSeconds: { min: 1, max: 30 * 24 * 3600 },
  positionTtlSeconds: { min: 1, max: 365 * 24 * 3600 },
} as const;

const FIELDS = { maxEvents: 'max_events', ttlSeconds: 'ttl_seconds', positionTtlSeconds: 'position_ttl_seconds' } as const;

/** The reason a policy is not acceptable, or undefined when it is. */
export function retentionProblem(policy: RetentionPolicy): string | undefined {
  for (const name of Object.keys(RETENTION_LIMITS) as (keyof RetentionPolicy)[]) {
    const value = policy[name];
    const { min, max } = RETENTION_LIMITS[name];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      return `${name} must be an integer from ${min} to ${max} (got ${value})`;
    }
  }
  if (policy.positionTtlSeconds < policy.ttlSeconds) {
    return `positionTtlSeconds (${policy.positionTtlSeconds}) must be at least ttlSeconds (${policy.ttlSeconds})`;
  }
  return undefined;
}

/** The policy stored in Redis; undefined when none is (no gateway has connected since Redis started). */
export async function readRetention(redis: Redis | Cluster, layout: StorageLayout): Promise<RetentionPolicy | undefined> {
  const stored = await redis.hgetall(layout.retention);
  if (Object.keys(stored).length === 0) return undefined;
  const policy: RetentionPolicy = {
    maxEvents: Number(stored[FIELDS.maxEvents]),
    ttlSeconds: Number(stored[FIELDS.ttlSeconds]),
    positionTtlSeconds: Number(stored[FIELDS.positionTtlSeconds]),
  };
  const problem = retentionProblem(policy);
  if (problem) throw new Error(`the retention policy stored in Redis at ${layout.retention} is invalid: ${problem}`);
  return policy;
}

/** Stores the policy (it has no expiry); returns the one it replaced, if any. */
export async function writeRetention(
  redis: Redis | Cluster,
  layout: StorageLayout,
  policy: RetentionPolicy,
): Promise<RetentionPolicy | undefined> {
  const problem = retentionProblem(policy);
  if (problem) throw new Error(`invalid retention policy: ${problem}`);
  const previous = await readRetention(redis, layout).catch(() => undefined);
  await redis.hset(layout.retention, {
    [FIELDS.maxEvents]: policy.maxEvents,
    [FIELDS.ttlSeconds]: policy.ttlSeconds,
    [FIELDS.positionTtlSeconds]: policy.positionTtlSeconds,
  });
  return previous;
}

export function sameRetention(a: RetentionPolicy, b: RetentionPolicy): boolean {
  return a.maxEvents === b.maxEvents && a.ttlSeconds === b.ttlSeconds && a.positionTtlSeconds === b.positionTtlSeconds;
}
