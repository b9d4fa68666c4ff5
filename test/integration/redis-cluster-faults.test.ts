import { createPublisher } from '@herald/publisher-sdk';
import { calculateSlot, storageLayout } from '@herald/publisher-sdk/storage';
import { startGatewayProcess } from '../support/gateway-process.js';
import { useRedisCluster } from '../support/redis-cluster.js';
import { TEST_JWT_SECRET } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';

const layout = storageLayout();

// A cluster of their own: these tests kill masters, one after the other.
describe('Redis Cluster faults (a real 3+3 cluster)', () => {
  const cluster = useRedisCluster();

  it('never returns one id twice when a slot migrates and its new master dies before its replica got the events numbered there', async () => {
    const user = 'migrated-then-failed';
    const slot = calculateSlot(layout.userEvents(user));
    const source = await cluster().masterOf(slot);
    const target = cluster().masters.find((master) => master.port !== source.port);
    const targetReplica = cluster().nodes.find((node) => node.masterId === target?.id);
    if (!target || !targetReplica) throw new Error('no other master with a replica');
    const publisher = createPublisher({ cluster: [...cluster().startupNodes], retry: { retries: 5, maxDelayMs: 200 } });
    const ids: string[] = [];
    const publish = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) ids.push((await publisher.publish(user, 'agent_thinking', { i })).event_id);
    };
    try {
      await publish(5);
      await cluster().migrateSlot(slot, target.port);
      const targetClient = cluster().nodeClient(target.port);
      try {
        // The target's replica gets the migrated history, then is cut off before the target numbers more.
        await targetClient.call('WAIT', 1, 2000);
      } finally {
        targetClient.disconnect();
      }
      await cluster().cutOffReplica(target.port, targetReplica.port);
      await publish(5);
      await cluster().kill(target.port, 'SIGKILL');
      await cluster().kill(targetReplica.port, 'SIGCONT');
      await cluster().waitForFailover(target.port);
      await publish(5);
    } finally {
      await publisher.close();
    }
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    expect(ids).toHaveLength(15);
  });

  it('publishes again through the SDK after a planned failover demotes the master of its users', async () => {
    await cluster().refresh();
    const master = cluster().masters.find((candidate) => cluster().nodes.some((node) => node.masterId === candidate.id && !node.failed));
    const replica = cluster().nodes.find((node) => node.masterId === master?.id && !node.failed);
    if (!master || !replica) throw new Error('no master with a live replica');
    let user = '';
    for (let i = 0; !user; i++) if ((await cluster().masterOf(layout.userEvents(`planned-${i}`))).port === master.port) user = `planned-${i}`;
    const publisher = createPublisher({ cluster: [...cluster().startupNodes] });
    try {
      await publisher.publish(user, 'agent_thinking', {});
      const replicaClient = cluster().nodeClient(replica.port);
      const masterClient = cluster().nodeClient(master.port);
      try {
        await replicaClient.call('CLUSTER', 'FAILOVER');
        await waitUntil('the replica to take over', async () => ((await masterClient.call('ROLE')) as unknown[])[0] === 'slave', 10_000);
      } finally {
        replicaClient.disconnect();
        masterClient.disconnect();
      }
      // The old master answers READONLY now: the publisher must find the new one by itself.
      await waitUntil('a publish to succeed after the failover', () => publisher.publish(user, 'agent_thinking', {}).then(() => true, () => false), 10_000);
    } finally {
      await publisher.close();
    }
  });

  it('is not ready while the cluster refuses every query (two masters of three gone, no quorum to fail over)', async () => {
    const node = await startGatewayProcess({ REDIS_CLUSTER_NODES: cluster().startupNodes.join(','), JWT_SECRET: TEST_JWT_SECRET });
    try {
      await cluster().refresh();
      const [first, second] = cluster().masters.filter((master) => !master.failed);
      if (!first || !second) throw new Error('fewer than two live masters');
      await cluster().kill(first.port, 'SIGKILL');
      await cluster().kill(second.port, 'SIGKILL');
      await waitUntil('/readyz to answer 503', async () => (await fetch(`${node.adminUrl}/readyz`)).status === 503, 10_000);
    } finally {
      await node.stop('SIGKILL');
    }
  });
});
