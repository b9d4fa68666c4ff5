import { pino } from 'pino';
import { DEFAULT_RETENTION, type RetentionPolicy } from '@herald/publisher-sdk/storage';
import type { RedisBrokerSettings } from '../../src/broker/redis-settings.js';

/** Settings of a Redis broker under test: its own channel prefix, a silent logger, short command deadlines. */
export function testBrokerSettings(prefix: string, nodeId: string, retention: Partial<RetentionPolicy> = {}): RedisBrokerSettings {
  return {
    channelPrefix: prefix,
    nodeId,
    maxEventBytes: 64 * 1024,
    retention: { ...DEFAULT_RETENTION, ...retention },
    idempotencyWindowSeconds: 300,
    commandTimeoutMs: 1000,
    logger: pino({ level: 'silent' }),
  };
}
