import { createPublisher } from '@herald/publisher-sdk';
import { calculateSlot, parseClusterNode, storageLayout } from '@herald/publisher-sdk/storage';
import { RedisClusterBroker } from '../src/index.js';
import { useRedisCluster } from '../../test/support/redis-cluster.js';
import { waitUntil } from '../../test/support/wait.js';
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

describe('redis cluster broker', () => {
  const opened: RedisClusterBroker[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((broker) => broker.close()));
  });

  /** Hands a slot (holding no keys) to each master in turn, on every master, each master's commands back to back. */
  async function assignSlot(slot: number, ports: readonly number[]): Promise<void> {
    const owners = ports.map((port) => cluster().masters.find((master) => master.port === port)?.id);
    const clients = cluster().masters.map((master) => cluster().nodeClient(master.port));
    try {
      const results = await Promise.all(
        clients.map((client) => {
          const pipeline = client.pipeline();
          for (const owner of owners) pipeline.call('CLUSTER', 'SETSLOT', slot, 'NODE', owner as string);
          return pipeline.exec();
        }),
      );
      const failed = results.flatMap((replies) => replies ?? []).find(([error]) => error);
      if (failed) throw failed[0];
    } finally {
      for (const client of clients) client.disconnect();
    }
  }

  it('subscribes a user again when its slot moves away and straight back, before any slot table read could show it', async () => {
    const prefix = `bounce${Date.now()}`;
    const broker = new RedisClusterBroker({
      ...testBrokerSettings(prefix, 'bouncing'),
      nodes: cluster().startupNodes.map((node) => parseClusterNode(node)).filter((node) => node !== undefined),
    });
    opened.push(broker);
    await broker.start();
    const renewed: string[] = [];
    broker.onSubscriptionsRenewed((users) => renewed.push(...users));
    const received: string[] = [];
    broker.onMessage((userId) => received.push(userId));
    const user = 'bouncer';
    const channel = storageLayout(prefix).userEvents(user);
    const slot = calculateSlot(channel);
    const home = (await cluster().masterOf(slot)).port;
    const away = cluster().masters.find((master) => master.port !== home)?.port as number;
    await broker.subscribe(user);

    // The slot (no keys in it: this prefix was never published to) leaves its master and comes back at once.
    await assignSlot(slot, [away, home]);

    const client = cluster().nodeClient(home);
    try {
      // Subscribed on its slot's master again, and renewed: events published while it was subscribed nowhere are read from history.
      await waitUntil(
        "the user's subscription on its slot's master, and its renewal",
        async () =>
          renewed.includes(user) && JSON.stringify(await client.call('PUBSUB', 'SHARDNUMSUB', channel)) === JSON.stringify([channel, 1]),
        5000,
      );
    } finally {
      client.disconnect();
    }
    const publisher = createPublisher({ cluster: [...cluster().startupNodes], channelPrefix: prefix });
    try {
      await publisher.publish(user, 'agent_thinking', {});
    } finally {
      await publisher.close();
    }
    await waitUntil('the event', () => received.includes(user), 5000);
  });
});
