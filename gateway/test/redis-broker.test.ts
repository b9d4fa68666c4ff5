import { compareEventIds } from '@herald/protocol';
import { DEFAULT_RETENTION, HISTORY_BODY_FIELD, storageLayout } from '@herald/publisher-sdk/storage';
import { BrokerUnavailableError } from '../src/broker/broker.js';
import { RedisBroker } from '../src/index.js';
import { useRedisServer } from '../../test/support/redis-server.js';
import { waitUntil } from '../../test/support/wait.js';
import { testBrokerSettings } from './support/broker-settings.js';
import { describeBrokerContract, type BrokerFixture, type FixtureOptions } from './broker-contract.js';

const redis = useRedisServer();
let prefixes = 0;

/** Each test gets its own channel prefix, so tests never see each other's traffic. */
function fixture(options: FixtureOptions): BrokerFixture {
  const prefix = `contract${++prefixes}`;
  return {
    async node() {
      const broker = new RedisBroker({ ...testBrokerSettings(prefix, `node-${prefixes}`, options.retention), url: redis().url });
      await broker.start();
      return broker;
    },
    async close() {},
  };
}

describeBrokerContract('redis', async (options) => fixture(options));

describe('redis broker', () => {
  const opened: RedisBroker[] = [];

  function broker(prefix: string): RedisBroker {
    const instance = new RedisBroker({ ...testBrokerSettings(prefix, 'n1'), url: redis().url });
    opened.push(instance);
    return instance;
  }

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((instance) => instance.close()));
  });

  it("subscribes to the user's hash-tagged channel and appends each event to the user's history", async () => {
    const node = broker('layout');
    await node.start();
    await node.subscribe('u1');
    const client = redis().client();
    try {
      const names = storageLayout('layout');
      expect(await client.pubsub('CHANNELS', 'layout:*')).toEqual([names.userEvents('u1')]);
      const result = await node.publish({ user_id: 'u1', type: 'agent_started', data: { x: 1 } });
      const entries = await client.xrange(names.userHistory('u1'), '-', '+');
      expect(entries).toHaveLength(1);
      const [id, fields] = entries[0] as [string, string[]];
      expect(id).toBe(result.event_id);
      expect(fields[0]).toBe(HISTORY_BODY_FIELD);
      expect(JSON.parse(`{"id":"${id}",${fields[1]}`)).toMatchObject({ type: 'agent_started', data: { x: 1 } });
      const ttl = await client.ttl(names.userHistory('u1'));
      expect(ttl).toBeGreaterThan(DEFAULT_RETENTION.ttlSeconds - 5);
      expect(await client.ttl(names.userSequence('u1'))).toBeGreaterThan(DEFAULT_RETENTION.positionTtlSeconds - 5);
    } finally {
      client.disconnect();
    }
  });

  it('keeps a history at least its ttl after each event, refreshing expiries once per tenth of the ttl rather than on every event', async () => {
    const node = broker('retention');
    await node.start();
    const client = redis().client();
    const { ttlSeconds, positionTtlSeconds } = DEFAULT_RETENTION;
    const slack = Math.ceil(ttlSeconds / 10);
    try {
      const names = storageLayout('retention');
      const history = names.userHistory('u1');
      const sequence = names.userSequence('u1');
      const publish = () => node.publish({ user_id: 'u1', type: 'agent_thinking', data: null });
      await publish();
      expect(await client.ttl(history)).toBeGreaterThan(ttlSeconds);
      expect(await client.ttl(history)).toBeLessThanOrEqual(ttlSeconds + slack);
      expect(await client.ttl(sequence)).toBeGreaterThan(positionTtlSeconds);

      // Still more than the ttl left: the event leaves the expiries alone.
      await client.expire(history, ttlSeconds + 2);
      await publish();
      expect(await client.ttl(history)).toBeLessThanOrEqual(ttlSeconds + 2);

      // The ttl reached: refreshed, the history and its position alike.
      await client.expire(history, ttlSeconds);
      await client.expire(sequence, positionTtlSeconds - 100);
      await publish();
      expect(await client.ttl(history)).toBeGreaterThan(ttlSeconds + 2);
      expect(await client.ttl(sequence)).toBeGreaterThan(positionTtlSeconds);

      // A node opening the user extends the position but never shortens it.
      await client.expire(sequence, positionTtlSeconds + 500);
      await node.openHistory('u1');
      expect(await client.ttl(sequence)).toBeGreaterThan(positionTtlSeconds + 400);
      await client.expire(sequence, 100);
      await node.openHistory('u1');
      expect(await client.ttl(sequence)).toBeGreaterThan(positionTtlSeconds - 5);
    } finally {
      client.disconnect();
    }
  });

  it('starts a new epoch when a history is lost, so new ids sort after the old ones', async () => {
    const node = broker('lost');
    await node.start();
    const before = (await node.publish({ user_id: 'u1', type: 'agent_started', data: null })).event_id;
    const client = redis().client();
    try {
      const names = storageLayout('lost');
      await client.del(names.userHistory('u1'), names.userSequence('u1'));
    } finally {
      client.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
    const after = (await node.publish({ user_id: 'u1', type: 'agent_started', data: null })).event_id;
    expect(after.endsWith('-1')).toBe(true);
    expect(compareEventIds(after, before)).toBeGreaterThan(0);
  });

  it('restores its subscriptions after Redis kills its subscriber connection', async () => {
    const node = broker('killed');
    const received: string[] = [];
    node.onMessage((userId) => received.push(userId));
    await node.start();
    await node.subscribe('u1');
    await node.subscribe('u2');
    const client = redis().client();
    try {
      expect(await client.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBeGreaterThanOrEqual(1);
      await waitUntil('the subscriptions to be restored', async () => {
        const counts = (await client.pubsub('NUMSUB', 'killed:{u:u1}:events', 'killed:{u:u2}:events')) as unknown[];
        return node.health().connected && counts[1] === 1 && counts[3] === 1;
      });
      await node.publish({ user_id: 'u1', type: 'agent_started', data: null });
      await node.publish({ user_id: 'u2', type: 'agent_started', data: null });
      await waitUntil('events after the restore', () => received.length === 2);
    } finally {
      client.disconnect();
    }
  });

  it('reads many histories in one round trip even when Redis has forgotten its scripts (after a restart)', async () => {
    const node = broker('flushed');
    await node.start();
    const ids = [];
    for (const user of ['fa', 'fb', 'fc']) ids.push((await node.publish({ user_id: user, type: 'agent_started', data: null })).event_id);
    const client = redis().client();
    try {
      await client.script('FLUSH');
    } finally {
      client.disconnect();
    }
    const pages = await node.readHistories(
      ['fa', 'fb', 'fc'].map((userId) => ({ userId, after: '0-0' })),
      { events: 10, bytes: 1 << 20 },
    );
    expect(pages.map((page) => page?.events.map((event) => event.id))).toEqual(ids.map((id) => [id]));
  });

  it('fails fast while Redis is down, reports it, and recovers when Redis is back', async () => {
    const node = broker('outage');
    await node.start();
    await node.subscribe('kept');
    await redis().stop();
    try {
      await waitUntil('the broker to notice', () => !node.health().connected);
      await expect(node.subscribe('new-user')).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(node.publish({ user_id: 'kept', type: 'agent_started', data: null })).rejects.toThrow(
        /the event was not published/,
      );
    } finally {
      await redis().restart();
    }
    await waitUntil('the broker to reconnect', () => node.health().connected, 15_000);
    const client = redis().client();
    try {
      await waitUntil('the kept subscription to be restored', async () => {
        const counts = (await client.pubsub('NUMSUB', 'outage:{u:kept}:events')) as unknown[];
        return counts[1] === 1;
      });
    } finally {
      client.disconnect();
    }
    await expect(node.subscribe('new-user')).resolves.toBeUndefined();
  });
});
