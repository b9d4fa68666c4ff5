import fc from 'fast-check';
import { CloseCodes, HeraldValidationError, type BroadcastResult } from '@herald/protocol';
import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import { TestClient } from '../support/clients.js';
import { hostileIdempotencyKey, hostileUserId } from '../support/hostile-ids.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { printGatewayErrors } from '../support/gateway-process.js';
import { postPublish } from '../support/publish.js';
import { signTestToken } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

const userId = hostileUserId({ minLength: 1, maxLength: 6 });
const idempotencyKey = hostileIdempotencyKey({ minLength: 1, maxLength: 6 });

interface Published {
  readonly user: number;
  readonly key: string;
  readonly result: BroadcastResult;
}

describe('isolation under hostile ids (real Redis, 2 gateway processes)', () => {
  let fleet: Fleet;
  let publisher: Publisher;
  let run = 0;

  beforeAll(async () => {
    fleet = await startFleet(2);
    publisher = createPublisher({ redisUrl: fleet.redis.url });
  });
  afterAll(async () => {
    printGatewayErrors(fleet.nodes);
    await publisher.close();
    await fleet.stop();
  });

  it("delivers every event only to its own user's sockets and never answers a publish with another user's event", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(userId, { minLength: 2, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), idempotencyKey, fc.boolean()), { minLength: 4, maxLength: 12 }),
        async (ids, plan) => {
          // A prefix per run keeps runs apart without taming the ids themselves.
          const tag = ++run;
          const users = ids.map((id) => `${tag}|${id}`);
          const sockets = await Promise.all(
            users.flatMap((user, u) =>
              [0, 1].map(async (copy) =>
                TestClient.connect(fleet.nodes[(u + copy) % 2]?.wsUrl ?? '', { token: await signTestToken({ sub: user }) }),
              ),
            ),
          );
          try {
            const published: Published[] = [];
            for (const [pick, key, viaHttp] of plan) {
              const user = pick % users.length;
              const result = viaHttp
                ? (
                    await postPublish(fleet.nodes[pick % 2]?.httpUrl ?? '', {
                      user_id: users[user],
                      type: 'agent_thinking',
                      idempotency_key: key,
                    })
                  ).body
                : await publisher.agentThinking(users[user] as string, 'r', null, { idempotencyKey: key });
              const earlier = published.find((entry) => entry.user === user && entry.key === key);
              expect(result.user_id).toBe(users[user]);
              expect(result.duplicate).toBe(earlier !== undefined);
              if (earlier) expect(result.event_id).toBe(earlier.result.event_id);
              published.push({ user, key, result });
            }
            const owed = users.map((_, u) =>
              published.filter((entry) => entry.user === u && !entry.result.duplicate).map((entry) => entry.result.event_id),
            );
            await waitUntil('every socket to have its events', () =>
              sockets.every((socket, s) => socket.events().length >= (owed[Math.floor(s / 2)]?.length ?? 0)),
            );
            await delay(30);
            sockets.forEach((socket, s) => {
              const u = Math.floor(s / 2);
              expect(socket.events().map((event) => [event.user_id, event.id])).toEqual(
                (owed[u] ?? []).map((id) => [users[u], id]),
              );
            });
          } finally {
            for (const socket of sockets) socket.terminate();
          }
        },
      ),
      {
        numRuns: 15,
        // Each run talks to real processes: a run that hangs fails with its inputs, and a failure
        // is reported as found rather than shrunk for longer than the test may take.
        endOnFailure: true,
        timeout: 15_000,
        examples: [
          // The collisions the old layout had: an id ending the hash tag early, and U+FFFD look-alikes.
          [['a', 'a}:idem:k'], [[1, 'z', false], [0, 'k}:idem:z', false], [1, 'z', true], [0, 'k}:idem:z', true]]],
          [['victim\ufffd', 'victim2\ufffd'], [[0, 'k', false], [1, 'k', true], [0, 'k', true]]],
          [['x}:history', 'x', 'x}'], [[0, '1', false], [1, '}:history', false], [2, ':history', true], [1, '1', false]]],
        ],
      },
    );
  });

  it('refuses a lone surrogate in a token sub, an SDK user id and a publish body, so no id can alias another', async () => {
    const victim = 'victim\ufffd';
    const first = await publisher.agentStarted(victim, 'r', { secret: 1 });
    for (const attacker of ['victim\ud800', 'victim\udfff']) {
      const refused = await TestClient.open(`${fleet.nodes[0]?.wsUrl ?? ''}?since=0-0`, { token: await signTestToken({ sub: attacker }) });
      expect(await refused.waitForClose()).toEqual({ code: CloseCodes.UNAUTHORIZED.code, reason: 'invalid_sub' });
      expect(refused.frames).toEqual([]);
      await expect(publisher.agentStarted(attacker, 'r')).rejects.toBeInstanceOf(HeraldValidationError);
      const viaHttp = await postPublish(fleet.nodes[1]?.httpUrl ?? '', `{"user_id":${JSON.stringify(attacker)},"type":"agent_started"}`);
      expect(viaHttp.status).toBe(400);
    }
    const owner = await TestClient.connect(`${fleet.nodes[1]?.wsUrl ?? ''}?since=0-0`, { token: await signTestToken({ sub: victim }) });
    try {
      await owner.waitForEvents(1);
      expect(owner.events().map((event) => event.id)).toEqual([first.event_id]);
    } finally {
      owner.terminate();
    }
  });
});
