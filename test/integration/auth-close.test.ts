import fc from 'fast-check';
import { CloseCodes, type CloseCode } from '@herald/protocol';
import { AUTH_FAILURE_REASONS } from '@herald/gateway';
import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import { TestClient, type TokenTransport } from '../support/clients.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { loggedErrors, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { hostileHeaderToken, hostileToken } from '../support/hostile-tokens.js';
import { parseSamples } from '../support/prometheus-text.js';
import { rawUpgrade, upgradeRequest, type RawUpgradeOutcome } from '../support/raw-upgrade.js';
import { signTestToken, unsecuredToken } from '../support/tokens.js';
import { delay } from '../support/wait.js';

const VICTIM = 'victim';
const TRANSPORTS: readonly TokenTransport[] = ['header', 'protocol', 'query'];
/** The reasons a refused token's close may carry (key_unavailable is the node's fault: a 503). */
const CLOSE_REASONS: readonly string[] = AUTH_FAILURE_REASONS.filter((reason) => reason !== 'key_unavailable');
// uWS buffers at most 4 KB of a request that arrives in pieces, and drops a larger one unanswered
// (as it drops any request over about 128 KB): only requests up to this size must be answered.
const ALWAYS_ANSWERED_BYTES = 4096;

async function metric(node: GatewayProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const samples = parseSamples(await (await fetch(`${node.adminUrl}/metrics`)).text());
  const sample = samples.find((candidate) => candidate.name === name && Object.entries(labels).every(([key, value]) => candidate.labels[key] === value));
  return sample?.value ?? Number.NaN;
}

describe('a refused token gets its socket closed at once, with a documented code and reason, and nothing else (gateway process)', () => {
  let fleet: Fleet;
  let node: GatewayProcess;
  let publisher: Publisher;
  /** The victim's own socket: proof that the victim's events flow while refused sockets come and go. */
  let witness: TestClient;

  beforeAll(async () => {
    fleet = await startFleet(1);
    node = fleet.nodes[0] as GatewayProcess;
    publisher = createPublisher({ redisUrl: fleet.redis.url });
    witness = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: VICTIM }) });
  });

  afterAll(async () => {
    witness?.terminate();
    await publisher?.close();
    await fleet?.stop();
  });

  /** Runs `attempt` while events are published for the victim, before, during and after it. */
  async function whilePublishingForVictim<T>(attempt: () => Promise<T>): Promise<T> {
    const before = witness.events().length;
    let publishing = true;
    const published = (async () => {
      let sent = 0;
      while (publishing || sent < 3) {
        await publisher.publish(VICTIM, 'agent_thinking', { sent });
        sent += 1;
      }
      return sent;
    })();
    await delay(20);
    try {
      return await attempt();
    } finally {
      await delay(50);
      publishing = false;
      const sent = await published;
      await witness.waitForEvents(before + sent);
    }
  }

  const unauthorized = CloseCodes.UNAUTHORIZED;
  it.each<[string, () => Promise<string | undefined>, CloseCode, string]>([
    ['no token', async () => undefined, unauthorized, 'missing_token'],
    ['a garbage token', async () => 'garbage', unauthorized, 'malformed_token'],
    ['a token signed with another key', () => signTestToken({ sub: VICTIM, secret: 'another-secret-another-secret-another' }), unauthorized, 'invalid_signature'],
    ['an unsecured token (alg none)', async () => unsecuredToken(VICTIM), unauthorized, 'algorithm_not_allowed'],
    ['a token without exp', () => signTestToken({ sub: VICTIM, expiresIn: null }), unauthorized, 'missing_exp'],
    ['a token without sub', () => signTestToken({ sub: undefined }), unauthorized, 'missing_sub'],
    ['an expired token', () => signTestToken({ sub: VICTIM, expiresIn: -5 }), CloseCodes.TOKEN_EXPIRED, 'expired'],
  ])('closes a socket with %s before any frame, while events are published for the sub it names', async (_label, token, close, reason) => {
    for (const via of TRANSPORTS) {
      const value = await token();
      const socket = await whilePublishingForVictim(async () => {
        const opened = await TestClient.open(node.wsUrl, value === undefined ? { via } : { token: value, via });
        await opened.waitForClose();
        return opened;
      });
      expect({ via, closed: socket.closed, frames: socket.frames }).toEqual({ via, closed: { code: close.code, reason }, frames: [] });
    }
  });

  it('ends the connection of a refused socket whose client never answers the close', async () => {
    const outcome = await rawUpgrade(node.port, upgradeRequest('garbage', 'header'), { untilConnectionEnds: true, waitMs: 3000 });
    expect(outcome).toEqual({ kind: 'closed', code: unauthorized.code, reason: 'malformed_token', frames: 0, connectionEnded: true });
  });

  it('never lets a header carrying a control character through: uWS leaves such a request unanswered', async () => {
    const outcome = await rawUpgrade(node.port, upgradeRequest('a\u0000b', 'header'), { waitMs: 500 });
    expect(outcome).toEqual({ kind: 'no_answer' });
  });

  it("answers any hostile token with a documented close and no frame (or, past uWS's request size limits, not at all), and keeps serving", async () => {
    const kinds: Record<string, number> = {};
    const request = fc.oneof(
      fc.record({ via: fc.constant<TokenTransport>('query'), token: hostileToken }),
      fc.record({ via: fc.constantFrom<TokenTransport>('header', 'protocol'), token: hostileHeaderToken }),
    );
    await fc.assert(
      fc.asyncProperty(request, async ({ via, token }) => {
        const bytes = upgradeRequest(token, via);
        const outcome: RawUpgradeOutcome = await rawUpgrade(node.port, bytes, { waitMs: 3000 });
        kinds[outcome.kind] = (kinds[outcome.kind] ?? 0) + 1;
        if (outcome.kind === 'no_answer') {
          expect(bytes.length).toBeGreaterThan(ALWAYS_ANSWERED_BYTES);
          return;
        }
        expect(outcome).toEqual({ kind: 'closed', code: unauthorized.code, reason: expect.any(String), frames: 0, connectionEnded: false });
        expect(CLOSE_REASONS).toContain(outcome.kind === 'closed' ? outcome.reason : '');
      }),
      { numRuns: 150 },
    );
    expect(kinds['closed']).toBeGreaterThan(100);
    expect(node.process.exitCode).toBeNull();
    expect((await fetch(`${node.adminUrl}/healthz`)).status).toBe(200);
    const after = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: VICTIM }) });
    after.terminate();
    expect(witness.closed).toBeUndefined();
    expect(loggedErrors(node)).toEqual([]);
  });

  it('counts refused tokens by reason, and never as connections', async () => {
    const opened = await metric(node, 'herald_connections_opened_total');
    const expired = await metric(node, 'herald_auth_failures_total', { reason: 'expired' });
    const closed4001 = await metric(node, 'herald_connections_closed_total', { code: '4001' });
    for (let n = 0; n < 3; n++) {
      const socket = await TestClient.open(node.wsUrl, { token: await signTestToken({ sub: VICTIM, expiresIn: -5 }) });
      await socket.waitForClose();
    }
    expect(await metric(node, 'herald_auth_failures_total', { reason: 'expired' })).toBe(expired + 3);
    expect(await metric(node, 'herald_connections_opened_total')).toBe(opened);
    expect(await metric(node, 'herald_connections_closed_total', { code: '4001' })).toBe(closed4001);
  });
});

describe('the per-address upgrade limit applies before a token is read', () => {
  let redis: RedisServer;
  let limited: GatewayProcess;

  beforeAll(async () => {
    redis = await startRedisServer();
    limited = await startGatewayProcess({
      REDIS_URL: redis.url,
      JWT_SECRET: 'a-secret-for-the-limited-node-only-0123456789',
      NODE_ID: 'limited',
      UPGRADE_RATE_PER_IP: '1',
      UPGRADE_BURST_PER_IP: '5',
    });
  });

  afterAll(async () => {
    await limited?.stop();
    await redis?.stop();
  });

  it('refuses a flood of bad-token upgrades with 429: only the burst is accepted and closed', async () => {
    const started = Date.now();
    const outcomes = await Promise.all(Array.from({ length: 60 }, () => rawUpgrade(limited.port, upgradeRequest('garbage', 'protocol'))));
    const seconds = (Date.now() - started) / 1000;
    const closed = outcomes.filter((outcome) => outcome.kind === 'closed');
    const limitedOutcomes = outcomes.filter((outcome) => outcome.kind === 'refused' && outcome.status === 429);
    expect(closed.length + limitedOutcomes.length).toBe(outcomes.length);
    // The burst of 5, plus what a rate of 1 per second refills while the flood lasts.
    expect(closed.length).toBeGreaterThanOrEqual(5);
    expect(closed.length).toBeLessThanOrEqual(5 + Math.ceil(seconds));
    expect(closed.every((outcome) => outcome.kind === 'closed' && outcome.code === CloseCodes.UNAUTHORIZED.code && outcome.frames === 0)).toBe(true);
    expect(await metric(limited, 'herald_upgrades_refused_total', { reason: 'rate_limited' })).toBe(limitedOutcomes.length);
    expect(await metric(limited, 'herald_auth_failures_total', { reason: 'malformed_token' })).toBe(closed.length);
  });
});
