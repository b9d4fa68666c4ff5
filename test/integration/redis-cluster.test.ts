import fc from 'fast-check';
import { GOLDEN_PATH_EVENT_TYPES, type BroadcastResult } from '@herald/protocol';
import { createPublisher } from '@herald/publisher-sdk';
import { calculateSlot, storageLayout } from '@herald/publisher-sdk/storage';
import { CheckedClient, SteadyPublisher, allDelivered, deliveryProblems } from '../support/delivery-check.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { hostileUserId } from '../support/hostile-ids.js';
import { postPublish } from '../support/publish.js';
import { useRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

const layout = storageLayout();

/** Per master port, how many times each command ran there (INFO commandstats). */
async function commandCounts(cluster: RedisCluster, command: string): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const master of cluster.masters) {
    const redis = cluster.nodeClient(master.port);
    try {
      const stats = String(await redis.info('commandstats'));
      counts.set(master.port, Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0));
    } finally {
      redis.disconnect();
    }
  }
  return counts;
}

/** Users whose slots, together, lie on every master, plus the hostile ids given. */
async function usersOnEveryMaster(cluster: RedisCluster, prefix: string, hostile: readonly string[]): Promise<string[]> {
  const users = [...hostile];
  const masters = new Set<number>();
  for (const user of users) masters.add((await cluster.masterOf(layout.userEvents(user))).port);
  for (let i = 0; masters.size < cluster.masters.length || users.length < hostile.length + 6; i++) {
    const user = `${prefix}-${i}`;
    users.push(user);
    masters.add((await cluster.masterOf(layout.userEvents(user))).port);
  }
  return users;
}

/** Every socket of every user received exactly the ids published for the user, in order, and nothing else. */
function exactProblems(clients: readonly CheckedClient[], published: ReadonlyMap<string, readonly string[]>): string[] {
  return clients.flatMap((client) => {
    const expected = published.get(client.userId) ?? [];
    const received = client.received.map((event) => event.id);
    const foreign = client.received.filter((event) => event.userId !== client.userId);
    const problems: string[] = [];
    if (foreign.length > 0) problems.push(`${client.userId}: received ${foreign.length} events of other users`);
    if (JSON.stringify(received) !== JSON.stringify(expected)) {
      problems.push(`${client.userId}: received ${received.length} events [${received.slice(0, 3).join(' ')}…], published ${expected.length}`);
    }
    return problems;
  });
}

describe('Herald on a real Redis Cluster (3 masters, 3 replicas; two gateway nodes with REDIS_CLUSTER_NODES)', () => {
  const cluster = useRedisCluster();
  let nodes: GatewayProcess[] = [];
  const clients: CheckedClient[] = [];

  beforeAll(async () => {
    const env = {
      REDIS_CLUSTER_NODES: cluster().startupNodes.join(','),
      JWT_SECRET: TEST_JWT_SECRET,
      HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY,
      NODE_ENV: 'production',
    };
    nodes = [await startGatewayProcess({ ...env, NODE_ID: 'cluster-0' }), await startGatewayProcess({ ...env, NODE_ID: 'cluster-1' })];
  }, 60_000);
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.stop('SIGTERM')));
  });

  /** One client per user on each node. */
  async function openClients(users: readonly string[]): Promise<CheckedClient[]> {
    const opened = users.flatMap((user) => nodes.map((node) => CheckedClient.open(user, node.wsUrl)));
    clients.push(...opened);
    await waitUntil('every client to be welcomed', () => opened.every((client) => client.state === 'open' && client.start !== undefined), 15_000);
    return opened;
  }

  it('delivers the golden path to every socket of its user only, exactly once, in order, publishing on the one shard that owns the user', async () => {
    const hostile = fc.sample(hostileUserId({ minLength: 1, maxLength: 6 }), { numRuns: 6, seed: 11 });
    const users = await usersOnEveryMaster(cluster(), 'golden', ['a}b', '{u:x}', 'x:y*', 'ü😀', ...hostile]);
    const opened = await openClients(users);
    const publisher = createPublisher({ cluster: [...cluster().startupNodes] });
    const spublishBefore = await commandCounts(cluster(), 'spublish');
    const publishBefore = await commandCounts(cluster(), 'publish');
    const published = new Map<string, string[]>();
    try {
      await Promise.all(
        users.map(async (user, i) => {
          const ids: string[] = [];
          for (const type of GOLDEN_PATH_EVENT_TYPES) {
            const result = await publisher.publish(user, type, { via: 'sdk' }, { runId: `run-${i}` });
            expect(result.nodes_reached).toBe(2);
            ids.push(result.event_id);
          }
          for (const type of GOLDEN_PATH_EVENT_TYPES) {
            const answer = await postPublish<BroadcastResult>(nodes[i % 2]?.httpUrl ?? '', { user_id: user, type, run_id: `run-${i}`, data: {} });
            expect(answer.status).toBe(200);
            ids.push(answer.body.event_id);
          }
          published.set(user, ids);
        }),
      );
    } finally {
      await publisher.close();
    }
    await waitUntil('every event to arrive', () => exactProblems(opened, published).length === 0, 10_000).catch(() => undefined);
    await delay(200); // anything extra would arrive now
    expect(exactProblems(opened, published)).toEqual([]);
    expect(opened.flatMap((client) => client.gaps)).toEqual([]);

    // Each event was published once, by SPUBLISH, on its user's master; never by PUBLISH (broadcast to every shard).
    const expected = new Map<number, number>();
    for (const user of users) {
      const port = (await cluster().masterOf(layout.userEvents(user))).port;
      expected.set(port, (expected.get(port) ?? 0) + 2 * GOLDEN_PATH_EVENT_TYPES.length);
    }
    const spublishAfter = await commandCounts(cluster(), 'spublish');
    const publishAfter = await commandCounts(cluster(), 'publish');
    for (const master of cluster().masters) {
      expect([master.port, (spublishAfter.get(master.port) ?? 0) - (spublishBefore.get(master.port) ?? 0)]).toEqual([
        master.port,
        expected.get(master.port) ?? 0,
      ]);
      expect((publishAfter.get(master.port) ?? 0) - (publishBefore.get(master.port) ?? 0)).toBe(0);
    }
  });

  it('loses and repeats nothing while the slots of users it serves move to another master under load', async () => {
    const users = await usersOnEveryMaster(cluster(), 'migrating', []);
    const opened = await openClients(users);
    const publisher = new SteadyPublisher({ cluster: [...cluster().startupNodes] }, users, 200, { faultsExpected: true });
    try {
      publisher.start();
      await delay(500);
      // Half the users' slots, each to the next master.
      const masters = cluster().masters.map((master) => master.port);
      for (const user of users.filter((_user, i) => i % 2 === 0)) {
        const slot = calculateSlot(layout.userEvents(user));
        const from = (await cluster().masterOf(slot)).port;
        await cluster().migrateSlot(slot, masters[(masters.indexOf(from) + 1) % masters.length] as number);
        await delay(100);
      }
      await delay(500);
    } finally {
      await publisher.stop();
      await publisher.close();
    }
    expect(publisher.total).toBeGreaterThan(users.length * 5);
    await waitUntil('every event to arrive', () => exactProblems(opened, publisher.published).length === 0, 15_000).catch(() => undefined);
    await delay(200);
    // Every event, not only those outside a herald.gap: a migration moves the history with the slot.
    expect(exactProblems(opened, publisher.published)).toEqual([]);
    expect(deliveryProblems(opened, publisher)).toEqual([]);
  });

  it("publishes the events of one turn for users of many slots in one script call per master, and a slot being migrated fails only its own users' events", async () => {
    const users = Array.from({ length: 60 }, (_, i) => `batched-${i}`);
    const publisher = createPublisher({ cluster: [...cluster().startupNodes], retry: { retries: 1, maxDelayMs: 50 } });
    try {
      await publisher.publish('batched-warm-up', 'agent_thinking', {});
      await Promise.all(cluster().masters.map(async (master) => {
        // Each master knows the script and has its run read before the count starts.
        for (const user of users) {
          if ((await cluster().masterOf(layout.userEvents(user))).port === master.port) {
            await publisher.publish(user, 'agent_thinking', {});
            break;
          }
        }
      }));
      const before = await commandCounts(cluster(), 'evalsha');
      await Promise.all(users.map((user) => publisher.publish(user, 'agent_thinking', { n: 1 })));
      const after = await commandCounts(cluster(), 'evalsha');
      for (const master of cluster().masters) expect((after.get(master.port) ?? 0) - (before.get(master.port) ?? 0)).toBe(1);

      // A slot whose migration began (and does not end) refuses its user's event alone.
      const [stuck] = users;
      const slot = calculateSlot(layout.userEvents(stuck as string));
      const source = await cluster().masterOf(slot);
      const target = cluster().masters.find((master) => master.port !== source.port);
      if (!target) throw new Error('no other master');
      const sourceClient = cluster().nodeClient(source.port);
      const targetClient = cluster().nodeClient(target.port);
      try {
        await targetClient.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id);
        await sourceClient.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id);
        const outcomes = await Promise.allSettled(users.map((user) => publisher.publish(user, 'agent_thinking', { n: 2 })));
        expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([
          { status: 'rejected', reason: expect.objectContaining({ code: 'redis_error' }) },
        ]);
        expect(outcomes[0]?.status).toBe('rejected');
      } finally {
        await sourceClient.call('CLUSTER', 'SETSLOT', slot, 'STABLE');
        await targetClient.call('CLUSTER', 'SETSLOT', slot, 'STABLE');
        sourceClient.disconnect();
        targetClient.disconnect();
      }
      // Once it stands still again, its user's events are published.
      await expect(publisher.publish(stuck as string, 'agent_thinking', { n: 3 })).resolves.toMatchObject({ duplicate: false });
    } finally {
      await publisher.close();
    }
  });

  it('never names two events with one id when a master dies while publishing: events lost with it are announced by herald.gap', async () => {
    const users = await usersOnEveryMaster(cluster(), 'failover', []);
    const opened = await openClients(users);
    const publisher = new SteadyPublisher({ cluster: [...cluster().startupNodes] }, users, 300, { faultsExpected: true });
    const victim = await cluster().masterOf(layout.userEvents(users[0] as string));
    const replica = cluster().nodes.find((node) => node.masterId === victim.id);
    if (!replica) throw new Error('the victim master has no replica');
    const victims: string[] = [];
    for (const user of users) if ((await cluster().masterOf(layout.userEvents(user))).port === victim.port) victims.push(user);
    try {
      publisher.start();
      await delay(700);
      // Replication is asynchronous: make certain the replica lacks the last events (and their
      // numbers) that the sockets already hold, as it may when its master dies. The replica is
      // frozen and its link cut; the master goes on publishing for a while, then dies.
      await cluster().cutOffReplica(victim.port, replica.port);
      await delay(300);
      await cluster().kill(victim.port, 'SIGKILL');
      await cluster().kill(replica.port, 'SIGCONT');
      // Until a replica takes over, only the dead master's users wait: the others' events keep
      // arriving, and the nodes stay ready.
      const survivors = opened.filter((client) => !victims.includes(client.userId));
      const receivedAtKill = survivors.map((client) => client.received.length);
      const readiness: number[] = [];
      const failover = cluster().waitForFailover(victim.port);
      let failedOver = false;
      void failover.finally(() => (failedOver = true)).catch(() => undefined);
      while (!failedOver) {
        for (const node of nodes) readiness.push((await fetch(`${node.adminUrl}/readyz`)).status);
        await delay(100);
      }
      expect(survivors.length).toBeGreaterThan(0);
      expect(survivors.filter((client, i) => client.received.length <= (receivedAtKill[i] ?? 0))).toEqual([]);
      expect(new Set(readiness)).toEqual(new Set([200]));
      const promoted = await failover;
      // The scenario is real: the promoted replica lacks events that were published, and delivered, before the master died.
      const redis = cluster().nodeClient(promoted.port);
      try {
        const held = new Set((await redis.xrange(layout.userHistory(victims[0] as string), '-', '+')).map(([id]) => id));
        const published = publisher.published.get(victims[0] as string) ?? [];
        expect(published.filter((id) => !held.has(id)).length).toBeGreaterThan(0);
      } finally {
        redis.disconnect();
      }
      await delay(1500);
    } finally {
      await publisher.stop();
      await publisher.close();
    }
    // The publisher never got one id for two of its events.
    for (const [user, ids] of publisher.published) expect([user, new Set(ids).size]).toEqual([user, ids.length]);
    // No socket ever saw one id with two payloads.
    const payloadOf = new Map<string, unknown>();
    const reused: string[] = [];
    for (const client of opened) {
      for (const arrival of client.arrivals) {
        if (arrival.kind !== 'event') continue;
        const key = `${arrival.userId} ${arrival.id}`;
        if (payloadOf.has(key) && payloadOf.get(key) !== arrival.n) reused.push(key);
        payloadOf.set(key, arrival.n);
      }
    }
    expect(reused).toEqual([]);
    await waitUntil('every event to arrive or be announced lost', () => allDelivered(opened, publisher), 20_000).catch(() => undefined);
    await delay(200);
    expect(deliveryProblems(opened, publisher)).toEqual([]);
    // The sockets of the dead master's users were told that history lost events.
    expect(opened.filter((client) => victims.includes(client.userId) && client.gaps.length > 0)).toHaveLength(2 * victims.length);
  });
});
