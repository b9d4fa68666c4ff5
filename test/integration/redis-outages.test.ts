import { CheckedClient, SteadyPublisher, allDelivered, deliveryProblems } from '../support/delivery-check.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { printGatewayErrors } from '../support/gateway-process.js';
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

async function everyNodeReady(fleet: Fleet): Promise<boolean> {
  const answers = await Promise.all(fleet.nodes.map((node) => fetch(`${node.adminUrl}/readyz`).catch(() => undefined)));
  return answers.every((answer) => answer?.ok === true);
}

describe('Redis restarts under load (real Redis killed with SIGKILL, 3 real gateway processes)', () => {
  let fleet: Fleet;
  let publisher: SteadyPublisher;
  let clients: CheckedClient[] = [];

  beforeEach(async () => {
    fleet = await startFleet(3);
    publisher = new SteadyPublisher(fleet.redis.url, USERS, RATE, { faultsExpected: true });
  });
  afterEach(async () => {
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
      await waitUntil('every published event to reach every client', () => allDelivered(clients, publisher), 20_000).catch(
        () => undefined,
      );
      await delay(200);
      expect(deliveryProblems(clients, publisher)).toEqual([]);
      // No socket was closed by a node: every client kept its one connection.
      expect(clients.flatMap((client) => client.closes.map((close) => `${client.userId}: ${close.code}`))).toEqual([]);
      expect(clients.every((client) => client.stats.connections === 1)).toBe(true);
      for (const client of clients) expect(client.gaps.length).toBeGreaterThanOrEqual(1);
    } finally {
      printGatewayErrors(fleet.nodes);
    }
  });
});
