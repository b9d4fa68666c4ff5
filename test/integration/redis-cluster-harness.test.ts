import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { portIsFree } from '../support/ports.js';
import { startRedisCluster, useRedisCluster } from '../support/redis-cluster.js';
import { delay, waitUntil } from '../support/wait.js';

function parseInfo(text: unknown): Map<string, string> {
  return new Map(
    String(text)
      .split(/\r?\n/)
      .filter((line) => line.includes(':'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
  );
}

/** The redis-server processes this test process started and that still run. */
function childRedisServers(): string[] {
  const ps = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return ps
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.endsWith('redis-server'));
}

describe('the Redis Cluster test harness (6 real redis-server processes: 3 masters, 3 replicas)', () => {
  const cluster = useRedisCluster();

  /** The channel's sharded subscription lives on the master `ownerId`, and on no other master. */
  async function expectSubscribedOnlyOn(channel: string, ownerId: string): Promise<void> {
    for (const node of cluster().masters) {
      const direct = cluster().nodeClient(node.port);
      try {
        const [, count] = (await direct.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
        expect([node.port, count]).toEqual([node.port, node.id === ownerId ? 1 : 0]);
      } finally {
        direct.disconnect();
      }
    }
  }

  it('comes up with every slot served, each master with its own replica in sync, cluster_state:ok on every node', async () => {
    const { nodes, masters } = cluster();
    expect(nodes).toHaveLength(6);
    expect(masters).toHaveLength(3);
    const replicas = nodes.filter((node) => node.role === 'replica');
    expect(replicas).toHaveLength(3);
    expect(new Set(replicas.map((replica) => replica.masterId))).toEqual(new Set(masters.map((master) => master.id)));
    const served = masters.flatMap((master) => master.slots).reduce((sum, [first, last]) => sum + last - first + 1, 0);
    expect(served).toBe(16_384);
    expect([...cluster().startupNodes].sort()).toEqual(nodes.map((node) => `127.0.0.1:${node.port}`).sort());

    for (const node of nodes) {
      const redis = cluster().nodeClient(node.port);
      try {
        const info = parseInfo(await redis.call('CLUSTER', 'INFO'));
        expect([node.port, info.get('cluster_state'), info.get('cluster_known_nodes')]).toEqual([node.port, 'ok', '6']);
        const replication = parseInfo(await redis.info('replication'));
        if (node.role === 'replica') expect(replication.get('master_link_status')).toBe('up');
        else expect(replication.get('connected_slaves')).toBe('1');
      } finally {
        redis.disconnect();
      }
    }
  });

  it('serves a key written through the cluster client, from the master its slot belongs to', async () => {
    const writer = cluster().client();
    const reader = cluster().client();
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `harness-key-${i}`);
      for (const key of keys) await writer.set(key, `value of ${key}`);
      expect(await Promise.all(keys.map((key) => reader.get(key)))).toEqual(keys.map((key) => `value of ${key}`));

      const owners = new Set<number>();
      for (const key of keys.slice(0, 5)) {
        const master = await cluster().masterOf(key);
        owners.add(master.port);
        const direct = cluster().nodeClient(master.port);
        try {
          expect(await direct.get(key)).toBe(`value of ${key}`);
        } finally {
          direct.disconnect();
        }
      }
      expect(owners.size).toBeGreaterThan(1); // the keys really are spread
    } finally {
      writer.disconnect();
      reader.disconnect();
    }
  });

  it('carries SPUBLISH to an SSUBSCRIBE on a hash-tagged channel (ioredis Cluster with shardedSubscribers)', async () => {
    const subscriber = cluster().client({ shardedSubscribers: true });
    const publisher = cluster().client();
    try {
      const channel = 'herald:{harness-user}:events';
      const received: string[] = [];
      subscriber.on('smessage', (from: string, message: string) => received.push(`${from} ${message}`));
      await subscriber.ssubscribe(channel);

      expect(await publisher.spublish(channel, 'hello')).toBe(1);
      await waitUntil('the sharded message', () => received.length === 1, 5000);
      expect(received).toEqual([`${channel} hello`]);

      // The subscription lives on the master of the channel's slot, and only there.
      const master = await cluster().masterOf(channel);
      await expectSubscribedOnlyOn(channel, master.id);
    } finally {
      subscriber.disconnect();
      publisher.disconnect();
    }
  });

  it('migrateSlot moves a slot and its keys to another master while a client keeps writing to it', async () => {
    const client = cluster().client();
    try {
      const tag = '{harness-migrate}';
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', tag));
      const source = await cluster().masterOf(slot);
      const target = cluster().masters.find((master) => master.id !== source.id);
      if (!target) throw new Error('no other master');
      const before = Array.from({ length: 250 }, (_, i) => `${tag}:before:${i}`);
      for (const key of before) await client.set(key, key);

      let writing = true;
      const during: string[] = [];
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          const key = `${tag}:during:${i}`;
          await client.set(key, key);
          during.push(key);
        }
      })();
      const moved = await cluster().migrateSlot(slot, target.port, { batch: 40 });
      writing = false;
      await writer;

      expect(moved).toBeGreaterThanOrEqual(before.length);
      expect((await cluster().masterOf(slot)).id).toBe(target.id);
      expect(cluster().nodes.find((node) => node.id === target.id)?.slots.some(([a, b]) => a <= slot && slot <= b)).toBe(true);
      const atTarget = cluster().nodeClient(target.port);
      const atSource = cluster().nodeClient(source.port);
      try {
        expect(await atTarget.call('CLUSTER', 'COUNTKEYSINSLOT', slot)).toBe(before.length + during.length);
        expect(await atSource.call('CLUSTER', 'COUNTKEYSINSLOT', slot)).toBe(0);
        await expect(atSource.get(before[0] ?? '')).rejects.toThrow(new RegExp(`^MOVED ${slot} 127.0.0.1:${target.port}`));
      } finally {
        atTarget.disconnect();
        atSource.disconnect();
      }
      const all = [...before, ...during];
      expect(await Promise.all(all.map((key) => client.get(key)))).toEqual(all);
    } finally {
      client.disconnect();
    }
  });

  it('keeps an SSUBSCRIBE through a slot move: ioredis subscribes again on the new owner', async () => {
    const subscriber = cluster().client({ shardedSubscribers: true });
    const publisher = cluster().client();
    try {
      const channel = 'herald:{harness-moving-user}:events';
      const received: number[] = [];
      subscriber.on('smessage', (_from: string, message: string) => received.push(Number(message)));
      await subscriber.ssubscribe(channel);
      const slot = Number(await publisher.call('CLUSTER', 'KEYSLOT', channel));
      const source = await cluster().masterOf(slot);
      const target = cluster().masters.find((master) => master.id !== source.id);
      if (!target) throw new Error('no other master');

      // A steady publisher, one message every 5 ms, before, during and after the move.
      let publishing = true;
      let sent = 0;
      let movedAt = Number.POSITIVE_INFINITY;
      let firstAfterMove = Number.POSITIVE_INFINITY;
      const publishing$ = (async () => {
        while (publishing) {
          const n = sent++;
          await publisher.spublish(channel, String(n));
          if (Date.now() > movedAt && firstAfterMove === Number.POSITIVE_INFINITY) firstAfterMove = n;
          await delay(5);
        }
      })();
      await waitUntil('messages before the move', () => received.length >= 10, 5000);
      await cluster().migrateSlot(slot, target.port);
      movedAt = Date.now();
      await waitUntil('messages published after the move to arrive', () => received.some((n) => n > firstAfterMove), 15_000);
      await delay(200);
      publishing = false;
      await publishing$;
      await delay(100);

      // Whatever was lost in the switch (sharded pub/sub is at most once), the subscription lives on the new owner now, only there.
      expect(await publisher.spublish(channel, String(sent))).toBe(1);
      await expectSubscribedOnlyOn(channel, target.id);
    } finally {
      subscriber.disconnect();
      publisher.disconnect();
    }
  });

  it("promotes a killed master's replica within a few seconds (waitForFailover); keys and an SSUBSCRIBE carry over", async () => {
    const client = cluster().client();
    const subscriber = cluster().client({ shardedSubscribers: true });
    try {
      const key = 'harness-failover-key';
      const channel = `herald:{${key}}:events`; // same slot as the key
      await client.set(key, 'before');
      const received: string[] = [];
      subscriber.on('smessage', (_from: string, message: string) => received.push(message));
      await subscriber.ssubscribe(channel);
      const master = await cluster().masterOf(key);
      const replica = cluster().nodes.find((node) => node.masterId === master.id);
      if (!replica) throw new Error('the master has no replica');
      await delay(100); // the replica has the write (replication is asynchronous)

      const killed = Date.now();
      await cluster().kill(master.port, 'SIGKILL');
      const promoted = await cluster().waitForFailover(master.port);
      const took = Date.now() - killed;
      expect(promoted.port).toBe(replica.port);
      expect(took).toBeLessThan(10_000);
      expect((await cluster().masterOf(key)).port).toBe(replica.port);
      expect(cluster().nodes.find((node) => node.port === master.port)?.failed).toBe(true);

      expect(await client.get(key)).toBe('before');
      await waitUntil('the cluster client to write through the new master', () => client.set(key, 'after').then(() => true), 10_000, 100);
      expect(await client.get(key)).toBe('after');
      await waitUntil(
        'a message published after the failover to reach the subscriber',
        async () => (await client.spublish(channel, 'after failover')) === 1 && received.includes('after failover'),
        10_000,
        100,
      );
    } finally {
      client.disconnect();
      subscriber.disconnect();
    }
  });

  it('stop() kills every node, frees every port and removes the directory', async () => {
    const { nodes, dir } = cluster();
    expect(existsSync(dir)).toBe(true);
    expect(childRedisServers()).toHaveLength(5); // one was killed by the failover test
    await cluster().stop();
    expect(childRedisServers()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    for (const node of nodes) {
      expect([node.port, await portIsFree(node.port), await portIsFree(node.port + 10_000)]).toEqual([node.port, true, true]);
    }
  });
});

describe('the Redis Cluster test harness, when its start fails', () => {
  it('leaves no node behind when it is stopped while starting', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    await expect(startRedisCluster({ signal: abort.signal })).rejects.toThrow('the Redis cluster was stopped while starting');
    expect(childRedisServers()).toEqual([]);
  });

  it('says how to install it', async () => {
    const path = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      await expect(startRedisCluster()).rejects.toThrow(/redis-server is required.*apt-get install -y redis-server/);
    } finally {
      process.env['PATH'] = path;
    }
  });
});
