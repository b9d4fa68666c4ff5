import { createPublisher } from '@herald/publisher-sdk';
import { calculateSlot, storageLayout } from '@herald/publisher-sdk/storage';
import { useRedisCluster } from '../support/redis-cluster.js';

const layout = storageLayout();

// A cluster of its own: this test kills a master.
describe('a history migrated to a master that then dies (a real 3+3 Redis Cluster)', () => {
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
        await cluster().kill(targetReplica.port, 'SIGSTOP');
        await targetClient.call('CLIENT', 'KILL', 'TYPE', 'replica');
      } finally {
        targetClient.disconnect();
      }
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
});
