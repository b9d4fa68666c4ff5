import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { Broker } from './broker.js';
import { MemoryBroker, MemoryBus } from './memory.js';
import { RedisBroker } from './redis.js';

/** Redis when REDIS_URL is set, otherwise the embedded single-node broker. */
export function createBroker(config: GatewayConfig, logger: Logger): Broker {
  if (config.redisUrl === undefined) {
    const bus = new MemoryBus({ retention: config.retention, idempotencyWindowSeconds: config.idempotencyWindowSeconds });
    return new MemoryBroker({ bus, maxEventBytes: config.maxPublishBytes });
  }
  return new RedisBroker({
    url: config.redisUrl,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    channelPrefix: config.channelPrefix,
    nodeId: config.nodeId,
    maxEventBytes: config.maxPublishBytes,
    retention: config.retention,
    idempotencyWindowSeconds: config.idempotencyWindowSeconds,
    logger,
  });
}
