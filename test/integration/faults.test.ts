import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { BroadcastResult } from '@herald/protocol';
import { storageLayout } from '@herald/publisher-sdk/storage';
import { createPublisher } from '@herald/publisher-sdk';
import { TestClient, UpgradeRefused } from '../support/clients.js';
import { CheckedClient, SteadyPublisher, allDelivered, deliveryProblems } from '../support/delivery-check.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { REPO_ROOT } from '../support/paths.js';
import { postPublish } from '../support/publish.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { signTestToken } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

const run = promisify(execFile);

const USERS = Array.from({ length: 12 }, (_, i) => `fault-user-${i}`);
const RATE = 300;
const RUN_MS = 3000;

/** Two clients per user, spread over the nodes (or over whatever URLs `urlFor` gives). */
async function openClients(urlFor: (i: number) => string | (() => string)): Promise<CheckedClient[]> {
  const clients = USERS.flatMap((user, i) => [0, 1].map((j) => CheckedClient.open(user, urlFor(i * 2 + j))));
  await waitUntil('every client to be connected', () => clients.every((client) => client.state === 'open'), 15_000);
  return clients;
}

async function settleAndCheck(clients: CheckedClient[], publisher: SteadyPublisher): Promise<void> {
  await waitUntil('every published event to reach every client', () => allDelivered(clients, publisher), 20_000).catch(
    () => undefined,
  );
  await delay(200); // anything extra (a duplicate) would arrive now
  expect(deliveryProblems(clients, publisher)).toEqual([]);
}

describe('delivery under faults (real Redis, 3 real gateway processes)', () => {
  let fleet: Fleet;
  let publisher: SteadyPublisher;
  let clients: CheckedClient[] = [];
  const proxies: TcpProxy[] = [];

  beforeEach(async () => {
    fleet = await startFleet(3);
    publisher = new SteadyPublisher(fleet.redis.url, USERS, RATE);
  });
  afterEach(async () => {
    await publisher.stop();
    for (const client of clients) client.close();
    clients = [];
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    await publisher.close();
    await fleet.stop();
  });

  it('loses and duplicates nothing while clients are cut off and reconnect with since at random moments', async () => {
    proxies.push(...(await Promise.all(fleet.nodes.map((node) => startTcpProxy(node.port)))));
    clients = await openClients((i) => () => `ws://127.0.0.1:${proxies[(i + Math.floor(Math.random() * 3)) % 3]?.port}/ws`);
    publisher.start();
    let cuts = 0;
    const until = Date.now() + RUN_MS;
    while (Date.now() < until) {
      const proxy = proxies[Math.floor(Math.random() * proxies.length)];
      if (proxy?.cutOne()) cuts += 1;
      await delay(25);
    }
    await publisher.stop();
    await settleAndCheck(clients, publisher);
    expect(cuts).toBeGreaterThan(50);
    expect(clients.reduce((sum, client) => sum + client.stats.connections, 0)).toBeGreaterThan(clients.length + 50);
    expect(publisher.total).toBeGreaterThan(RATE);
    expect(clients.flatMap((client) => client.gaps)).toEqual([]);
  });

  it("loses nothing while Redis keeps killing the gateways' subscriber connections", async () => {
    clients = await openClients((i) => fleet.nodes[i % 3]?.wsUrl ?? '');
    const redis = fleet.redis.client();
    publisher.start();
    let kills = 0;
    try {
      const until = Date.now() + RUN_MS;
      while (Date.now() < until) {
        kills += Number(await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
        await delay(250);
      }
    } finally {
      redis.disconnect();
    }
    await publisher.stop();
    await settleAndCheck(clients, publisher);
    expect(kills).toBeGreaterThanOrEqual(3 * 8);
    expect(clients.flatMap((client) => client.gaps)).toEqual([]);
  });

  it('signals herald.gap instead of losing silently when Redis restarts without its data', async () => {
    await publisher.close();
    publisher = new SteadyPublisher(fleet.redis.url, USERS, RATE, { faultsExpected: true });
    clients = await openClients((i) => fleet.nodes[i % 3]?.wsUrl ?? '');
    publisher.start();
    await delay(1000);
    await fleet.redis.stop();
    // While Redis is away: not ready, new sockets refused with a retry hint, open ones kept.
    const node = fleet.nodes[0];
    if (!node) throw new Error('no node');
    await waitUntil('the node to report not ready', async () => (await fetch(`${node.adminUrl}/readyz`)).status === 503);
    const refused = await TestClient.open(node.wsUrl, { token: await signTestToken({ sub: 'late' }) }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect((refused as UpgradeRefused).status).toBe(503);
    expect((refused as UpgradeRefused).headers['retry-after']).toBeDefined();
    expect(clients.every((client) => client.state === 'open')).toBe(true);
    await delay(300);
    await fleet.redis.restart();
    await delay(1500);
    await publisher.stop();
    await waitUntil(
      'every node to be ready again',
      async () => (await Promise.all(fleet.nodes.map((node) => fetch(`${node.adminUrl}/readyz`)))).every((r) => r.ok),
      15_000,
    );
    await settleAndCheck(clients, publisher);
    for (const client of clients) expect(client.gaps.length).toBeGreaterThanOrEqual(1);
  });

  it('loses nothing when a gateway node is killed mid-stream and its clients move to the others', async () => {
    const alive = [...fleet.nodes];
    let turn = 0;
    clients = await openClients(() => () => alive[turn++ % alive.length]?.wsUrl ?? '');
    publisher.start();
    await delay(1000);
    const victim = fleet.nodes[1];
    if (!victim) throw new Error('no node to kill');
    alive.splice(alive.indexOf(victim), 1);
    await victim.stop('SIGKILL');
    await delay(2000);
    await publisher.stop();
    await settleAndCheck(clients, publisher);
    expect(clients.flatMap((client) => client.gaps)).toEqual([]);
  });

  it('keeps one order on every socket of a user when several processes publish for it at once', async () => {
    const users = ['shared-a', 'shared-b'];
    const sockets = users.flatMap((user) => fleet.nodes.map((node) => CheckedClient.open(user, node.wsUrl)));
    clients = sockets;
    await waitUntil('sockets open', () => sockets.every((client) => client.state === 'open'));
    const script = `
      const { createPublisher } = require('@herald/publisher-sdk');
      const publisher = createPublisher({ redisUrl: process.env.REDIS_URL });
      (async () => {
        for (let n = 0; n < 150; n++) for (const user of ['shared-a', 'shared-b']) await publisher.agentThinking(user, 'r', { n, from: process.pid });
        await publisher.close();
      })();`;
    await Promise.all([1, 2, 3].map(() => run(process.execPath, ['-e', script], { cwd: REPO_ROOT, env: { ...process.env, REDIS_URL: fleet.redis.url } })));
    const redis = fleet.redis.client();
    try {
      for (const user of users) {
        const stream = (await redis.xrange(storageLayout().userHistory(user), '-', '+')).map(([id]) => id);
        expect(stream).toHaveLength(450);
        const mine = sockets.filter((client) => client.userId === user);
        await waitUntil(`every event of ${user}`, () => mine.every((client) => client.received.length >= 450));
        for (const client of mine) expect(client.received.map((event) => event.id)).toEqual(stream);
      }
    } finally {
      redis.disconnect();
    }
  });

  it('publishes a retried event once, whichever way the retry comes', async () => {
    const client = CheckedClient.open('retried', fleet.nodes[0]?.wsUrl ?? '');
    clients = [client];
    await waitUntil('open', () => client.state === 'open');
    const sdk = createPublisher({ redisUrl: fleet.redis.url });
    try {
      const first = await sdk.agentCompleted('retried', 'r9', { answer: 1 }, { idempotencyKey: 'r9-completed' });
      const viaHttp = await postPublish<BroadcastResult>(fleet.nodes[2]?.httpUrl ?? '', {
        user_id: 'retried',
        type: 'agent_completed',
        run_id: 'r9',
        data: { answer: 1 },
        idempotency_key: 'r9-completed',
      });
      expect(viaHttp.body).toMatchObject({ event_id: first.event_id, duplicate: true });
      await waitUntil('the event', () => client.received.length === 1);
      await delay(200);
      expect(client.received.map((event) => event.id)).toEqual([first.event_id]);
    } finally {
      await sdk.close();
    }
  });

  it('adds up delivery receipts across the nodes holding the user', async () => {
    clients = [0, 1, 1, 2, 2, 2].map((node) => CheckedClient.open('counted', fleet.nodes[node]?.wsUrl ?? ''));
    await waitUntil('sockets open', () => clients.every((client) => client.state === 'open'));
    const sdk = createPublisher({ redisUrl: fleet.redis.url });
    try {
      const result = await sdk.agentStarted('counted', 'r', null, { confirm: true, timeoutMs: 5000 });
      expect(result).toMatchObject({ nodes_reached: 3, connections_attempted: 6, successful_sends: 6, errors: [] });
      const viaHttp = await postPublish<BroadcastResult>(fleet.nodes[0]?.httpUrl ?? '', {
        user_id: 'counted',
        type: 'agent_thinking',
        confirm: true,
      });
      expect(viaHttp.body).toMatchObject({ nodes_reached: 3, connections_attempted: 6, successful_sends: 6, errors: [] });
    } finally {
      await sdk.close();
    }
  });
});
