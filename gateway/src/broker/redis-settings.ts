import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import type { RetentionPolicy } from '@herald/publisher-sdk/storage';

/** What both Redis brokers (one server, or a cluster) are configured with. */
export interface RedisBrokerSettings {
  /** Deadline of every command. */
  readonly commandTimeoutMs: number;
  readonly channelPrefix: string;
  readonly nodeId: string;
  readonly maxEventBytes: number;
  /** The deployment's retention; this node writes it to Redis for every publisher to use. */
  readonly retention: RetentionPolicy;
  readonly idempotencyWindowSeconds: number;
  readonly logger: Logger;
}

// Each connection is PINGed this often; one silent this long makes the node unready, and one
// silent for the longer time is dropped and made again (it may lead to a server that is gone).
export const CONNECTION_CHECKS = { intervalMs: 250, silentAfterMs: 1000, reconnectAfterMs: 10_000 } as const;

// The publish API's own retry: one, so that a publish is answered within about two command timeouts.
const PUBLISH_RETRIES = 1;

/** The SDK publisher behind a node's publish API, on the node's own command connection(s). */
export function nodePublisher(settings: RedisBrokerSettings, connection: { redis: Redis } | { cluster: Cluster }): Publisher {
  return createPublisher({
    ...connection,
    channelPrefix: settings.channelPrefix,
    maxEventBytes: settings.maxEventBytes,
    idempotencyWindowSeconds: settings.idempotencyWindowSeconds,
    commandTimeoutMs: settings.commandTimeoutMs,
    connectTimeoutMs: settings.commandTimeoutMs,
    retry: { retries: PUBLISH_RETRIES, maxDelayMs: 250 },
  });
}
