import { parseClusterNode } from '@herald/publisher-sdk/storage';
import { RedisClusterBroker } from '../src/index.js';
import { useRedisCluster } from '../../test/support/redis-cluster.js';
import { testBrokerSettings } from './support/broker-settings.js';
import { describeBrokerContract, type BrokerFixture, type FixtureOptions } from './broker-contract.js';

const cluster = useRedisCluster();
let prefixes = 0;

/** Each test gets its own channel prefix, so tests never see each other's traffic. */
function fixture(options: FixtureOptions): BrokerFixture {
  const prefix = `ccontract${++prefixes}`;
  return {
    async node() {
      const broker = new RedisClusterBroker({
        ...testBrokerSettings(prefix, `node-${prefixes}`, options.retention),
        nodes: cluster().startupNodes.map((node) => parseClusterNode(node)).filter((node) => node !== undefined),
      });
      await broker.start();
      return broker;
    },
    async close() {},
  };
}

describeBrokerContract('redis cluster', async (options) => fixture(options));
