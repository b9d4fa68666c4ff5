import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_RETENTION, readRetention, type RetentionPolicy, type StorageLayout } from './storage/index.js';

/** How long a policy read from Redis is used before it is read again (in the background). */
export const RETENTION_REFRESH_MS = 30_000;

/**
 * The deployment's retention policy as the gateways wrote it to Redis. The first publish waits
 * for it; later ones use what was read and refresh it in the background every 30 s. Until a
 * gateway has written one (a Redis that was just started), the documented defaults apply.
 */
export class RetentionCache {
  private policy: RetentionPolicy | undefined;
  private readAt = 0;
  private reading: Promise<RetentionPolicy> | undefined;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly layout: StorageLayout,
    private readonly now: () => number = Date.now,
  ) {}

  /** The policy read before, if any (a refresh starts in the background when it is due). */
  known(): RetentionPolicy | undefined {
    const known = this.policy;
    if (known !== undefined && this.now() - this.readAt >= RETENTION_REFRESH_MS) void this.read().catch(() => undefined);
    return known;
  }

  /** The policy to publish with. Rejects only when none was ever read and Redis cannot be read now. */
  get(): Promise<RetentionPolicy> {
    const known = this.known();
    return known === undefined ? this.read() : Promise.resolve(known);
  }

  private read(): Promise<RetentionPolicy> {
    this.reading ??= readRetention(this.redis, this.layout)
      .then((stored) => {
        this.policy = stored ?? this.policy ?? DEFAULT_RETENTION;
        this.readAt = this.now();
        return this.policy;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}
