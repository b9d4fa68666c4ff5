import { compareEventIds } from '@herald/protocol';
import { storageLayout } from '@herald/publisher-sdk/storage';
import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import { TestClient } from '../support/clients.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { printGatewayErrors } from '../support/gateway-process.js';
import { signTestToken } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';

const USERS = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus', 'hal'];
const CYCLES = 3000;
const CONCURRENCY = 60;

interface Published {
  readonly id: string;
  /** Logical clock when the publish call started and when it resolved. */
  readonly startedAt: number;
  readonly resolvedAt: number;
}

describe('per-user subscription reference counting under connect/disconnect races', () => {
  let fleet: Fleet;
  let publisher: Publisher;
  let clock = 0;
  const tick = () => ++clock;

  beforeAll(async () => {
    fleet = await startFleet(3);
    publisher = createPublisher({ redisUrl: fleet.redis.url });
  });
  afterAll(async () => {
    printGatewayErrors(fleet.nodes);
    await publisher.close();
    await fleet.stop();
  });

  it('leaks no subscription and delivers every event to every socket open when it was published', async () => {
    let seed = 1234;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const tokens = new Map(await Promise.all(USERS.map(async (user) => [user, await signTestToken({ sub: user })] as const)));
    const token = (user: string) => tokens.get(user) ?? '';
    const failures: string[] = [];

    // One long-lived socket per user: it must see every event of its user.
    const stable = await Promise.all(
      USERS.map((user) => TestClient.connect(pick(fleet.nodes).wsUrl, { token: token(user), clock: tick })),
    );

    // A steady publisher: each user's events in sequence, all users at once.
    const published = new Map<string, Published[]>(USERS.map((user) => [user, []]));
    let publishing = true;
    const publishers = USERS.map(async (user) => {
      const log = published.get(user) ?? [];
      while (publishing) {
        const startedAt = tick();
        const result = await publisher.agentThinking(user, 'run-1', { n: log.length });
        log.push({ id: result.event_id, startedAt, resolvedAt: tick() });
        await new Promise((resolve) => setTimeout(resolve, 4));
      }
    });

    let verified = 0;
    async function cycle(): Promise<void> {
      const user = pick(USERS);
      const node = pick(fleet.nodes);
      const mode = random();
      if (mode < 0.25) {
        // Gone before (or while) the upgrade completes: the subscribe may still be pending.
        const opening = TestClient.open(node.wsUrl, { token: token(user) });
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 3)));
        const client = await opening.catch(() => undefined);
        client?.terminate();
        return;
      }
      const client = await TestClient.connect(node.wsUrl, { token: token(user), clock: tick });
      if (client.welcome.user_id !== user) failures.push(`${user}: welcomed as ${client.welcome.user_id}`);
      if (mode < 0.5) {
        client.terminate();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 30)));
      // Every event whose publish started after the welcome and finished before now must arrive.
      const welcomedAt = client.welcomedAt;
      const closingAt = tick();
      const required = (published.get(user) ?? []).filter((e) => e.startedAt > welcomedAt && e.resolvedAt < closingAt);
      const last = required.at(-1);
      if (last) {
        await client
          .waitFor(`event ${last.id} for ${user}`, () => client.events().some((event) => event.id === last.id), 10_000)
          .catch(() =>
            failures.push(`${user}: socket ${client.welcome.connection_id} never received ${last.id} (closed: ${JSON.stringify(client.closed)})`),
          );
      }
      if (client.closed) failures.push(`${user}: the gateway closed a healthy socket (${JSON.stringify(client.closed)})`);
      await client.close();
      const ids = client.events().map((event) => event.id);
      if (client.events().some((event) => event.user_id !== user)) failures.push(`${user}: received another user's event`);
      if (new Set(ids).size !== ids.length) failures.push(`${user}: duplicate events`);
      if (ids.some((id, i) => i > 0 && compareEventIds(ids[i - 1] as string, id) >= 0)) failures.push(`${user}: out of order`);
      const missing = required.filter((event) => !ids.includes(event.id));
      if (missing.length > 0) failures.push(`${user}: missed ${missing.length} events published while open`);
      verified += 1;
    }

    let started = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (started < CYCLES) {
          started += 1;
          await cycle();
        }
      }),
    );
    publishing = false;
    await Promise.all(publishers);

    expect(failures).toEqual([]);
    expect(verified).toBeGreaterThan(CYCLES / 3);

    // The long-lived sockets saw every event of their user, once, in order.
    for (const [i, user] of USERS.entries()) {
      const client = stable[i] as TestClient;
      const expected = (published.get(user) ?? []).map((event) => event.id);
      await client.waitForEvents(expected.length);
      expect(client.events().map((event) => event.id)).toEqual(expected);
    }

    // Each user is subscribed exactly once, by the one node holding its long-lived socket.
    const redis = fleet.redis.client();
    try {
      const names = storageLayout();
      const counts = (await redis.pubsub('NUMSUB', ...USERS.map((user) => names.userEvents(user)))) as (string | number)[];
      expect(counts.filter((_value, i) => i % 2 === 1)).toEqual(USERS.map(() => 1));
      await Promise.all(stable.map((client) => client.close()));
      await waitUntil('every subscription to be released', async () => (await redis.pubsub('CHANNELS', 'herald:*')).length === 0);
    } finally {
      redis.disconnect();
    }
  });
});
