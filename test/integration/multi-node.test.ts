import { GOLDEN_PATH_EVENT_TYPES, type BroadcastResult } from '@herald/protocol';
import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import { TestClient } from '../support/clients.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { postPublish } from '../support/publish.js';
import { signTestToken } from '../support/tokens.js';

const USERS = 30;
const NODES = 3;

interface Socket {
  readonly userId: string;
  readonly node: number;
  readonly client: TestClient;
}

describe('a fleet of 3 gateway nodes sharing one Redis', () => {
  let fleet: Fleet;
  let publisher: Publisher;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    fleet = await startFleet(NODES);
    publisher = createPublisher({ redisUrl: fleet.redis.url });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.client.terminate();
    await publisher.close();
    await fleet.stop();
  });

  it('delivers every golden-path event to every socket of its user, once, in order, and to no one else', async () => {
    const users = Array.from({ length: USERS }, (_, i) => `user-${String(i).padStart(2, '0')}`);

    // 1-3 sockets per user, spread over the nodes.
    await Promise.all(
      users.flatMap((userId, i) =>
        Array.from({ length: (i % 3) + 1 }, async (_, j) => {
          const node = (i + j) % NODES;
          const target = fleet.nodes[node];
          if (!target) throw new Error('missing node');
          const client = await TestClient.connect(target.wsUrl, { token: await signTestToken({ sub: userId }) });
          expect(client.welcome).toMatchObject({ user_id: userId, node: target.nodeId });
          sockets.push({ userId, node, client });
        }),
      ),
    );
    expect(sockets).toHaveLength(USERS * 2);

    // Five golden-path events per user through the SDK, five more through POST /v1/publish.
    const published = new Map<string, string[]>();
    await Promise.all(
      users.map(async (userId, i) => {
        const ids: string[] = [];
        const nodesHoldingUser = new Set(sockets.filter((socket) => socket.userId === userId).map((socket) => socket.node));
        for (const type of GOLDEN_PATH_EVENT_TYPES) {
          const result = await publisher.publish(userId, type, { via: 'sdk' }, { runId: `run-${userId}` });
          expect(result.nodes_reached).toBe(nodesHoldingUser.size);
          ids.push(result.event_id);
        }
        const httpNode = fleet.nodes[i % NODES];
        if (!httpNode) throw new Error('missing node');
        for (const type of GOLDEN_PATH_EVENT_TYPES) {
          const answer = await postPublish<BroadcastResult>(httpNode.httpUrl, {
            user_id: userId,
            type,
            run_id: `run-${userId}`,
            data: { via: 'http' },
          });
          expect(answer.status).toBe(200);
          expect(answer.body.nodes_reached).toBe(nodesHoldingUser.size);
          ids.push(answer.body.event_id);
        }
        published.set(userId, ids);
      }),
    );

    await Promise.all(sockets.map((socket) => socket.client.waitForEvents(10)));
    // Anything extra (a duplicate, another user's event) would arrive about now.
    await new Promise((resolve) => setTimeout(resolve, 300));

    for (const socket of sockets) {
      const events = socket.client.events();
      expect(events.every((event) => event.user_id === socket.userId)).toBe(true);
      expect(events.map((event) => event.id)).toEqual(published.get(socket.userId));
      expect(events.map((event) => event.type)).toEqual([...GOLDEN_PATH_EVENT_TYPES, ...GOLDEN_PATH_EVENT_TYPES]);
      expect(events.map((event) => (event.data as { via: string }).via)).toEqual([
        ...Array<string>(5).fill('sdk'),
        ...Array<string>(5).fill('http'),
      ]);
    }
  });
});
