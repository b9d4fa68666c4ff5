import { connect as connectTcp } from 'node:net';
import { TestClient, UpgradeRefused } from '../support/clients.js';
import { CheckedClient, SteadyPublisher, allDelivered, deliveryProblems } from '../support/delivery-check.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { printGatewayErrors } from '../support/gateway-process.js';
import { postPublish } from '../support/publish.js';
import { signTestToken } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

const USERS = Array.from({ length: 12 }, (_, i) => `outage-user-${i}`);
const RATE = 300;

/** Two clients per user, spread over the nodes. */
async function openClients(fleet: Fleet): Promise<CheckedClient[]> {
  const clients = USERS.flatMap((user, i) =>
    [0, 1].map((j) => CheckedClient.open(user, fleet.nodes[(i * 2 + j) % fleet.nodes.length]?.wsUrl ?? '')),
  );
  await waitUntil('every client to be connected', () => clients.every((client) => client.state === 'open'), 15_000);
  return clients;
}

/** Every event published reaches every client once, in order, or inside a herald.gap it got. */
async function expectEverythingDelivered(clients: readonly CheckedClient[], publisher: SteadyPublisher): Promise<void> {
  await waitUntil('every published event to reach every client', () => allDelivered(clients, publisher), 20_000).catch(() => undefined);
  await delay(200); // anything extra (a duplicate) would arrive now
  expect(deliveryProblems(clients, publisher)).toEqual([]);
}

async function everyNodeReady(fleet: Fleet): Promise<boolean> {
  const answers = await Promise.all(fleet.nodes.map((node) => fetch(`${node.adminUrl}/readyz`).catch(() => undefined)));
  return answers.every((answer) => answer?.ok === true);
}

/** Times `work`, in milliseconds, with what it resolved to (or the error it threw). */
async function timed<T>(work: () => Promise<T>): Promise<{ readonly ms: number; readonly outcome: T | unknown }> {
  const started = Date.now();
  const outcome = await work().catch((error: unknown) => error);
  return { ms: Date.now() - started, outcome };
}

/** Sends a WebSocket upgrade request and drops the connection before any answer. */
async function abandonUpgrade(port: number, token: string): Promise<void> {
  const socket = connectTcp(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  );
  await delay(50);
  socket.destroy();
}

// Bounds documented in docs/operations.md (Redis faults), for the default REDIS_COMMAND_TIMEOUT_MS.
const COMMAND_TIMEOUT_MS = 2000;
const READINESS_BOUND_MS = 2000;
const PUBLISH_BOUND_MS = 2 * COMMAND_TIMEOUT_MS + 250 + 500;
const UPGRADE_BOUND_MS = 3 * COMMAND_TIMEOUT_MS + 500;
const MAX_CONNECTIONS = 20;
// The node drops a connection silent this long and makes it again.
const RECONNECT_AFTER_MS = 10_000;
const STOPPED_MS = RECONNECT_AFTER_MS + 3500;

describe('Redis faults under load (a real redis-server killed with SIGKILL or stopped with SIGSTOP, 3 real gateway processes)', () => {
  let fleet: Fleet;
  let publisher: SteadyPublisher;
  let clients: CheckedClient[] = [];

  beforeEach(async () => {
    fleet = await startFleet(3, { MAX_CONNECTIONS: String(MAX_CONNECTIONS) });
    publisher = new SteadyPublisher(fleet.redis.url, USERS, RATE, { faultsExpected: true });
  });
  afterEach(async () => {
    fleet.redis.signal('SIGCONT');
    await publisher.stop();
    for (const client of clients) client.close();
    clients = [];
    await publisher.close();
    await fleet.stop();
  });

  it('keeps every socket open through three restarts without data, and tells each client what it missed with herald.gap', async () => {
    clients = await openClients(fleet);
    publisher.start();
    try {
      for (let restart = 0; restart < 3; restart++) {
        await delay(700);
        await fleet.redis.stop();
        await delay(300);
        await fleet.redis.restart();
        await waitUntil('every node to be ready again', () => everyNodeReady(fleet), 15_000);
      }
      await delay(700);
      await publisher.stop();
      await expectEverythingDelivered(clients, publisher);
      // No socket was closed by a node: every client kept its one connection.
      expect(clients.flatMap((client) => client.closes.map((close) => `${client.userId}: ${close.code}`))).toEqual([]);
      expect(clients.every((client) => client.stats.connections === 1)).toBe(true);
      for (const client of clients) expect(client.gaps.length).toBeGreaterThanOrEqual(1);
    } finally {
      printGatewayErrors(fleet.nodes);
    }
  });

  it('answers readiness, publishes and upgrades within their bounds while Redis is stopped for 13.5 s, leaks no connection slot, and loses nothing', async () => {
    const [watched, publishing, upgrading] = fleet.nodes;
    if (!watched || !publishing || !upgrading) throw new Error('three nodes expected');
    clients = await openClients(fleet);
    const openOnUpgrading = clients.length / fleet.nodes.length;
    publisher.start();
    await delay(700);
    const tokens = await Promise.all(Array.from({ length: 12 }, (_, i) => signTestToken({ sub: `late-${i}` })));
    try {
      fleet.redis.signal('SIGSTOP');
      const stoppedAt = Date.now();
      const [unready, publish, upgrades] = await Promise.all([
        waitUntil('the node to report not ready', async () => (await fetch(`${watched.adminUrl}/readyz`)).status === 503, 5000, 50).then(
          () => Date.now() - stoppedAt,
        ),
        timed(() => postPublish(publishing.httpUrl, { user_id: 'outage-user-0', type: 'agent_started', data: null })),
        Promise.all([
          ...tokens.slice(0, 6).map((token) => timed(() => TestClient.open(upgrading.wsUrl, { token }))),
          ...tokens.slice(6).map((token) => timed(() => abandonUpgrade(upgrading.port, token))),
        ]),
      ]);
      expect(unready).toBeLessThan(READINESS_BOUND_MS);
      expect(publish.ms).toBeLessThan(PUBLISH_BOUND_MS);
      expect(publish.outcome).toMatchObject({ status: 503, headers: expect.anything() });
      expect((publish.outcome as { headers: Headers }).headers.get('retry-after')).not.toBeNull();
      for (const upgrade of upgrades.slice(0, 6)) {
        expect(upgrade.ms).toBeLessThan(UPGRADE_BOUND_MS);
        expect(upgrade.outcome).toBeInstanceOf(UpgradeRefused);
        expect((upgrade.outcome as UpgradeRefused).status).toBe(503);
        expect((upgrade.outcome as UpgradeRefused).headers['retry-after']).toBeDefined();
      }
      // A new upgrade while Redis is known to be silent is refused at once.
      const refused = await timed(() => TestClient.open(upgrading.wsUrl, { token: tokens[0] ?? '' }));
      expect(refused.ms).toBeLessThan(500);
      expect(refused.outcome).toBeInstanceOf(UpgradeRefused);
      // So is a new publish, before and after the node gives up on its silent connections (10 s)
      // and connects again (to a Redis that still does not answer).
      for (const at of [0, RECONNECT_AFTER_MS + 3000]) {
        await delay(Math.max(0, at - (Date.now() - stoppedAt)));
        const publishedNow = await timed(() => postPublish(publishing.httpUrl, { user_id: 'outage-user-1', type: 'agent_started', data: null }));
        expect({ at, ms: publishedNow.ms < 500, outcome: publishedNow.outcome }).toMatchObject({ at, ms: true, outcome: { status: 503 } });
      }
      await delay(Math.max(0, STOPPED_MS - (Date.now() - stoppedAt)));
    } finally {
      fleet.redis.signal('SIGCONT');
    }
    await waitUntil('every node to be ready again', () => everyNodeReady(fleet), 10_000);
    // Every slot the refused and abandoned upgrades held is free again.
    const late = await Promise.all(
      Array.from({ length: MAX_CONNECTIONS - openOnUpgrading }, async (_, i) =>
        TestClient.connect(upgrading.wsUrl, { token: await signTestToken({ sub: `after-${i}` }) }),
      ),
    );
    for (const client of late) client.socket.close();
    await delay(700);
    await publisher.stop();
    try {
      await expectEverythingDelivered(clients, publisher);
      expect(clients.flatMap((client) => client.gaps)).toEqual([]);
      expect(clients.flatMap((client) => client.closes.map((close) => `${client.userId}: ${close.code}`))).toEqual([]);
    } finally {
      printGatewayErrors(fleet.nodes);
    }
  });
});
