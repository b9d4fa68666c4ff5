import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { Broker } from './broker.js';
import { MemoryBroker, MemoryBus } from './memory.js';
import { RedisBroker } from './redis.js';
import { RedisClusterBroker } from './redis-cluster.js';
import type { RedisBrokerSettings } from './redis-settings.js';

/** Redis when REDIS_URL is set, Redis Cluster when REDIS_CLUSTER_NODES is, otherwise the embedded single-node broker. */
export function createBroker(config: GatewayConfig, logger: Logger): Broker {
  const redis: RedisBrokerSettings = {
    commandTimeoutMs: config.redisCommandTimeoutMs,
    channelPrefix: config.channelPrefix,
    nodeId: config.nodeId,
    maxEventBytes: config.maxPublishBytes,
    retention: config.retention,
    idempotencyWindowSeconds: config.idempotencyWindowSeconds,
    logger,
  };
  if (config.redisClusterNodes !== undefined) return new RedisClusterBroker({ ...redis, nodes: config.redisClusterNodes });
  if (config.redisUrl !== undefined) return new RedisBroker({ ...redis, url: config.redisUrl });
  const bus = new MemoryBus({ retention: config.retention, idempotencyWindowSeconds: config.idempotencyWindowSeconds });
  return new MemoryBroker({ bus, maxEventBytes: config.maxPublishBytes });
}
