import { compareEventIds, parseEventId } from '@herald/protocol';
import { TestClient } from '../support/clients.js';
import { SteadyPublisher } from '../support/delivery-check.js';
import { printGatewayErrors, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, signTestToken } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

const USERS = Array.from({ length: 8 }, (_, i) => `seam-user-${i}`);
const RATE = 320;
const RUN_MS = 4000;

interface SocketRecord {
  readonly userId: string;
  readonly client: TestClient;
  readonly since: string;
}

/** What is wrong with one socket's events: each must be the next number after the one before, from its welcome on. */
function socketProblems(record: SocketRecord, published: readonly string[], complete: boolean): string[] {
  const label = `${record.userId} (since ${record.since})`;
  const ids = record.client.events().map((event) => event.id);
  const problems: string[] = [];
  const known = new Set(published);
  let previous = parseEventId(record.since);
  for (const id of ids) {
    const parts = parseEventId(id);
    if (!parts || !previous) return [`${label}: bad id ${id}`];
    if (!known.has(id)) problems.push(`${label}: ${id} was never published for this user`);
    if (parts.ms !== previous.ms || parts.seq !== previous.seq + 1) {
      problems.push(`${label}: ${id} after ${previous.ms}-${previous.seq}`);
    }
    previous = parts;
  }
  if (complete) {
    const owed = published.filter((id) => compareEventIds(id, record.since) > 0);
    if (owed.length !== ids.length) problems.push(`${label}: got ${ids.length} of the ${owed.length} events after its welcome`);
  }
  return problems;
}

describe('the subscribe seam (real Redis; replies to the gateways delayed 20-50 ms on their command connections)', () => {
  let redis: RedisServer;
  let link: TcpProxy;
  let nodes: GatewayProcess[] = [];
  let publisher: SteadyPublisher;
  let delayed = 0;

  beforeAll(async () => {
    redis = await startRedisServer();
    link = await startTcpProxy(redis.port, {
      onClientChunk: (connection) => {
        // The command connection names itself herald-cmd-<node> in its first bytes; pub/sub
        // messages (on herald-sub-<node>) pass at once and overtake the delayed replies.
        if (connection.replyDelayMs() === 0 && connection.clientBytes().includes('herald-cmd-')) {
          delayed += 1;
          connection.replyDelayMs = () => 20 + Math.random() * 30;
        }
      },
    });
    const env = { REDIS_URL: `redis://127.0.0.1:${link.port}`, JWT_SECRET: TEST_JWT_SECRET, HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY };
    nodes = await Promise.all([0, 1].map((i) => startGatewayProcess({ ...env, NODE_ID: `seam-${i}`, NODE_ENV: 'production' })));
    publisher = new SteadyPublisher(redis.url, USERS, RATE);
  });
  afterAll(async () => {
    printGatewayErrors(nodes);
    await publisher.stop();
    await publisher.close();
    await Promise.all(nodes.map((node) => node.stop('SIGKILL')));
    await link.close();
    await redis.stop();
  });

  it('gives every socket every event after its welcome, numbered without a hole, while users subscribe and unsubscribe', async () => {
    const records: SocketRecord[] = [];
    publisher.start();
    const until = Date.now() + RUN_MS;
    // One socket per user at a time, alternating nodes, so each new socket is usually the first
    // of its user on its node: the node subscribes and reads the user's position right then.
    await Promise.all(
      USERS.map(async (userId, u) => {
        const token = await signTestToken({ sub: userId });
        for (let turn = u; ; turn++) {
          const client = await TestClient.connect(nodes[turn % 2]?.wsUrl ?? '', { token });
          records.push({ userId, client, since: client.welcome.since });
          await delay(40 + Math.random() * 200);
          if (Date.now() >= until) break; // the user's last socket stays open: it must get everything
          await client.close();
        }
      }),
    );
    await publisher.stop();
    const last = new Map(USERS.map((userId) => [userId, records.filter((record) => record.userId === userId).at(-1)]));
    await waitUntil('the open sockets to catch up', () =>
      USERS.every((userId) => {
        const record = last.get(userId);
        return record !== undefined && socketProblems(record, publisher.published.get(userId) ?? [], true).length === 0;
      }),
    ).catch(() => undefined);
    await delay(200);
    const problems = [
      ...publisher.problems(),
      ...records.flatMap((record) =>
        socketProblems(record, publisher.published.get(record.userId) ?? [], last.get(record.userId) === record),
      ),
    ];
    for (const record of records) record.client.terminate();
    expect(problems).toEqual([]);
    expect(delayed).toBeGreaterThanOrEqual(2);
    expect(records.length).toBeGreaterThan(USERS.length * 8);
    expect(publisher.total).toBeGreaterThan(RATE * 2);
  });
});
