import { CloseCodes } from '@herald/protocol';
import { CheckedClient, SteadyPublisher, allDelivered, deliveryProblems } from '../support/delivery-check.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { delay, waitUntil } from '../support/wait.js';

const DRAIN = { DRAIN_DELAY_MS: '500', DRAIN_SPREAD_MS: '1500', DRAIN_GRACE_MS: '1000' };
const USERS = Array.from({ length: 12 }, (_, i) => `drain-user-${i}`);

describe('draining a node (SIGTERM) under steady publishing', () => {
  let fleet: Fleet;
  let publisher: SteadyPublisher;
  let clients: CheckedClient[] = [];

  beforeAll(async () => {
    fleet = await startFleet(3, DRAIN);
    publisher = new SteadyPublisher(fleet.redis.url, USERS, 300);
  });
  afterAll(async () => {
    await publisher.stop();
    for (const client of clients) client.close();
    await publisher.close();
    await fleet.stop();
  });

  it('turns not-ready at once, closes its sockets spread out, exits 0 in time, and its clients miss nothing', async () => {
    const alive = [...fleet.nodes];
    let turn = 0;
    clients = USERS.flatMap((user) =>
      [0, 1].map(() => CheckedClient.open(user, () => alive[turn++ % alive.length]?.wsUrl ?? '')),
    );
    await waitUntil('clients connected', () => clients.every((client) => client.state === 'open'));
    const victim = fleet.nodes[1];
    if (!victim) throw new Error('no node');
    const onVictim = clients.filter((client) => client.node === victim.nodeId);
    expect(onVictim.length).toBeGreaterThan(2);

    publisher.start();
    await delay(500);
    const signalled = Date.now();
    const exited = victim.stop('SIGTERM');
    alive.splice(alive.indexOf(victim), 1);
    await waitUntil('the node to report not ready', async () => (await fetch(`${victim.adminUrl}/readyz`)).status === 503, 2000, 10);
    expect(Date.now() - signalled).toBeLessThan(500);

    expect(await exited).toBe(0);
    const took = Date.now() - signalled;
    expect(took).toBeLessThan(500 + 1500 + 1000 + 2000);
    await delay(1000);
    await publisher.stop();

    await waitUntil('every event delivered', () => allDelivered(clients, publisher), 20_000).catch(() => undefined);
    await delay(200);
    expect(deliveryProblems(clients, publisher)).toEqual([]);
    expect(clients.flatMap((client) => client.gaps)).toEqual([]);

    // Its clients were told to go (1001), not all at the same moment, and none before the delay.
    const goingAway = onVictim.flatMap((client) => client.closes.filter((close) => close.code === CloseCodes.GOING_AWAY.code));
    expect(goingAway).toHaveLength(onVictim.length);
    const times = goingAway.map((close) => close.at - signalled);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(450);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(300);
  });
});
