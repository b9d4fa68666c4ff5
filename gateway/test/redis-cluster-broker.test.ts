import { pino } from 'pino';
import { DEFAULT_RETENTION, parseClusterNode } from '@herald/publisher-sdk/storage';
import { RedisClusterBroker } from '../src/index.js';
import { useRedisCluster } from '../../test/support/redis-cluster.js';
import { describeBrokerContract, type BrokerFixture, type FixtureOptions } from './broker-contract.js';

const cluster = useRedisCluster();
let prefixes = 0;

/** Each test gets its own channel prefix, so tests never see each other's traffic. */
function fixture(options: FixtureOptions): BrokerFixture {
  const prefix = `ccontract${++prefixes}`;
  return {
    async node() {
      const broker = new RedisClusterBroker({
        nodes: cluster().startupNodes.map((node) => parseClusterNode(node)).filter((node) => node !== undefined),
        channelPrefix: prefix,
        nodeId: `node-${prefixes}`,
        maxEventBytes: 64 * 1024,
        retention: { ...DEFAULT_RETENTION, ...options.retention },
        idempotencyWindowSeconds: 300,
        commandTimeoutMs: 1000,
        logger: pino({ level: 'silent' }),
      });
      await broker.start();
      return broker;
    },
    async close() {},
  };
}

describeBrokerContract('redis cluster', async (options) => fixture(options));
