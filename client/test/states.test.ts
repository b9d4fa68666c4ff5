import WebSocket from 'ws';
import { MemoryBus } from '@herald/gateway';
import { CloseCodes } from '@herald/protocol';
import { connect, type CloseInfo, type ConnectOptions, type ConnectionState, type HeraldClient, type WebSocketConstructor } from '../src/index.js';
import { TestClient } from '../../test/support/clients.js';
import { startTestGateway, type TestGateway } from '../../test/support/in-process-gateway.js';
import { freePort } from '../../test/support/ports.js';
import { RestartableNode } from '../../test/support/restartable-node.js';
import { SignJWT } from 'jose';
import { TEST_JWT_SECRET, signTestToken } from '../../test/support/tokens.js';
import { delay, waitUntil } from '../../test/support/wait.js';

const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/** A token the gateway refuses (4401 invalid_signature): signed with a key it does not know. */
const refusedToken = (sub: string) => signTestToken({ sub, secret: 'not-the-gateway-secret-not-the-gateway-secret' });

interface Watched {
  readonly client: HeraldClient;
  /** Every state the client emitted, from connect() on. */
  readonly states: ConnectionState[];
  /** Close codes, but for 1006: attempts while a node is down end that way, as many as the backoff allows. */
  readonly closes: number[];
  readonly unauthorized: CloseInfo[];
}

describe('client states, exactly as documented', () => {
  const clients: HeraldClient[] = [];
  const stoppables: { stop(): Promise<void> }[] = [];

  function watch(options: Omit<ConnectOptions, 'WebSocket'>): Watched {
    // No retry window unless a test asks for one: refusals stop the client as soon as they count enough.
    const client = connect({ WebSocket: NodeWebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, authRetryWindowMs: 0, ...options });
    clients.push(client);
    const watched: Watched = { client, states: [], closes: [], unauthorized: [] };
    client.on('state', (state) => watched.states.push(state));
    client.on('close', (info) => {
      if (info.code !== 1006) watched.closes.push(info.code);
    });
    client.on('unauthorized', (info) => watched.unauthorized.push(info));
    return watched;
  }

  async function gateway(env: Record<string, string> = {}): Promise<TestGateway> {
    const node = await startTestGateway(env);
    stoppables.push(node);
    return node;
  }

  async function restartableNode(): Promise<RestartableNode> {
    const node = new RestartableNode(new MemoryBus(), await freePort());
    stoppables.push(node);
    await node.start();
    return node;
  }

  /** Counts getToken calls; `tokens` says what each call returns (the last one from then on). */
  function tokenSource(tokens: readonly (() => Promise<string>)[]): { calls: number; getToken: () => Promise<string> } {
    const source = {
      calls: 0,
      getToken: () => {
        const next = tokens[Math.min(source.calls, tokens.length - 1)] as () => Promise<string>;
        source.calls += 1;
        return next();
      },
    };
    return source;
  }

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(stoppables.splice(0).map((node) => node.stop()));
  });

  it('first connection: connecting, open', async () => {
    const node = await gateway();
    const { client, states } = watch({ url: node.wsUrl, token: await signTestToken({ sub: 'first' }) });
    expect(client.state).toBe('connecting');
    await waitUntil('open', () => client.state === 'open');
    expect(states).toEqual(['connecting', 'open']);
  });

  it('network loss and reconnect: connecting, open, reconnecting, open', async () => {
    const node = await restartableNode();
    const { client, states, closes } = watch({ url: node.url, getToken: () => signTestToken({ sub: 'lossy' }) });
    await waitUntil('open', () => client.state === 'open');
    await node.stop();
    await waitUntil('reconnecting', () => client.state === 'reconnecting');
    await node.start();
    await waitUntil('open again', () => client.state === 'open');
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(closes).toEqual([CloseCodes.GOING_AWAY.code]);
  });

  it('a gateway that is not up yet: connecting, reconnecting, open', async () => {
    const node = new RestartableNode(new MemoryBus(), await freePort());
    stoppables.push(node);
    const { client, states } = watch({ url: node.url, getToken: () => signTestToken({ sub: 'early' }) });
    await waitUntil('reconnecting', () => client.state === 'reconnecting');
    await node.start();
    await waitUntil('open', () => client.state === 'open');
    expect(states).toEqual(['connecting', 'reconnecting', 'open']);
  });

  it('close(): connecting, open, closed, and nothing after', async () => {
    const node = await gateway();
    const { client, states } = watch({ url: node.wsUrl, token: await signTestToken({ sub: 'closer' }) });
    await waitUntil('open', () => client.state === 'open');
    client.close();
    client.close();
    await delay(100);
    expect(states).toEqual(['connecting', 'open', 'closed']);
  });

  it('close() before the first attempt: closed only, and no token is asked for', async () => {
    const tokens = tokenSource([() => signTestToken({ sub: 'never' })]);
    const { client, states } = watch({ url: 'ws://127.0.0.1:1/ws', getToken: tokens.getToken });
    client.close();
    await delay(50);
    expect(states).toEqual(['closed']);
    expect({ calls: tokens.calls, connections: client.stats.connections }).toEqual({ calls: 0, connections: 0 });
  });

  it('a close that forbids reconnecting: connecting, open, closed', async () => {
    const node = await gateway({ MAX_CONNECTIONS_PER_USER: '1' });
    const { client, states, closes } = watch({ url: node.wsUrl, token: await signTestToken({ sub: 'one-tab' }) });
    await waitUntil('open', () => client.state === 'open');
    const newer = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'one-tab' }) });
    await waitUntil('closed', () => client.state === 'closed');
    newer.terminate();
    expect(states).toEqual(['connecting', 'open', 'closed']);
    expect(closes).toEqual([CloseCodes.CONNECTION_LIMIT.code]);
  });

  it('a token the gateway keeps refusing: getToken before every attempt, then unauthorized after maxAuthFailures closes', async () => {
    const node = await gateway();
    const tokens = tokenSource([() => refusedToken('mallory')]);
    const { client, states, closes, unauthorized } = watch({ url: node.wsUrl, getToken: tokens.getToken });
    const iterator = client.events();
    await waitUntil('unauthorized', () => client.state === 'unauthorized');
    await delay(300);
    expect(states).toEqual(['connecting', 'reconnecting', 'unauthorized']);
    expect(closes).toEqual([4401, 4401, 4401]);
    expect(unauthorized).toEqual([{ code: CloseCodes.UNAUTHORIZED.code, reason: 'invalid_signature' }]);
    expect({ calls: tokens.calls, connections: client.stats.connections }).toEqual({ calls: 3, connections: 3 });
    await expect(iterator.next()).resolves.toEqual({ value: undefined, done: true });
    client.close();
    expect(states).toEqual(['connecting', 'reconnecting', 'unauthorized']);
  });

  it('stops at the maxAuthFailures given', async () => {
    const node = await gateway();
    const tokens = tokenSource([() => refusedToken('mallory')]);
    const { client, closes } = watch({ url: node.wsUrl, getToken: tokens.getToken, maxAuthFailures: 5 });
    await waitUntil('unauthorized', () => client.state === 'unauthorized');
    expect({ closes: closes.length, calls: tokens.calls }).toEqual({ closes: 5, calls: 5 });
  });

  it('a static token refused: connecting, unauthorized at the first close (the same token would be refused again)', async () => {
    const node = await gateway();
    const { client, states, unauthorized } = watch({ url: node.wsUrl, token: await signTestToken({ sub: 'stale', expiresIn: -5 }) });
    await waitUntil('unauthorized', () => client.state === 'unauthorized');
    await delay(200);
    expect(states).toEqual(['connecting', 'unauthorized']);
    expect(unauthorized).toEqual([{ code: CloseCodes.TOKEN_EXPIRED.code, reason: 'expired' }]);
    expect(client.stats.connections).toBe(1);
  });

  it('a fresh token recovers, and a welcome starts the count of refusals afresh', async () => {
    const node = await gateway();
    const bad = () => refusedToken('recovering');
    // Valid for 1 to 2 s: an attempt under load must not find it expired already.
    const expiringSoon = () => signTestToken({ sub: 'recovering', expiresIn: 2 });
    const good = () => signTestToken({ sub: 'recovering' });
    // Two refusals, a welcome, the token's expiry (4001), one refusal more: four in all, never three in a row.
    const tokens = tokenSource([bad, bad, expiringSoon, bad, good]);
    const { client, states, closes, unauthorized } = watch({ url: node.wsUrl, getToken: tokens.getToken, maxAuthFailures: 3 });
    await waitUntil('open', () => client.state === 'open');
    await waitUntil('open with the last token', () => client.state === 'open' && tokens.calls === 5, 5000);
    expect(states).toEqual(['connecting', 'reconnecting', 'open', 'reconnecting', 'open']);
    expect(closes).toEqual([4401, 4401, CloseCodes.TOKEN_EXPIRED.code, 4401]);
    expect(unauthorized).toEqual([]);
  });

  it('keeps trying refused tokens for authRetryWindowMs: a token not valid yet (a clock ahead of the gateway\'s) gets through', async () => {
    const node = await gateway();
    const notBefore = Math.floor(Date.now() / 1000) + 2;
    const early = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('early').setNotBefore(notBefore).setExpirationTime(notBefore + 600)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const { client, states, closes, unauthorized } = watch({ url: node.wsUrl, getToken: async () => early, authRetryWindowMs: 10_000 });
    await waitUntil('open', () => client.state === 'open', 8000);
    expect(closes.length).toBeGreaterThanOrEqual(3);
    expect(new Set(closes)).toEqual(new Set([CloseCodes.UNAUTHORIZED.code]));
    expect(states).toEqual(['connecting', 'reconnecting', 'open']);
    expect(unauthorized).toEqual([]);
  });

  it('a token that expires on an open socket is renewed, never counted as a refusal', async () => {
    const node = await gateway();
    const tokens = tokenSource([() => signTestToken({ sub: 'renewed', expiresIn: 2 }), () => signTestToken({ sub: 'renewed' })]);
    const { client, states, closes, unauthorized } = watch({ url: node.wsUrl, getToken: tokens.getToken, maxAuthFailures: 1 });
    await waitUntil('open with the second token', () => client.state === 'open' && tokens.calls === 2, 8000);
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(closes).toEqual([CloseCodes.TOKEN_EXPIRED.code]);
    expect(unauthorized).toEqual([]);
  });

  it('a getToken answer a WebSocket cannot carry is a refusal, never a crash', async () => {
    const node = await gateway();
    const good = await signTestToken({ sub: 'spaced' });
    const tokens = tokenSource([async () => `Bearer ${good}`]);
    const { client, states, unauthorized } = watch({ url: node.wsUrl, getToken: tokens.getToken });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.message));
    await waitUntil('unauthorized', () => client.state === 'unauthorized');
    expect(states).toEqual(['connecting', 'reconnecting', 'unauthorized']);
    expect(unauthorized).toEqual([{ code: CloseCodes.UNAUTHORIZED.code, reason: 'malformed_token' }]);
    expect({ calls: tokens.calls, connections: client.stats.connections }).toEqual({ calls: 3, connections: 0 });
    expect(errors[0]).toMatch(/not a token/);
  });

  it('refuses a maxAuthFailures that is not a positive integer', () => {
    for (const maxAuthFailures of [0, -1, 1.5, Number.NaN]) {
      expect(() => connect({ url: 'ws://x', token: 't', maxAuthFailures, WebSocket: NodeWebSocket })).toThrow(/maxAuthFailures must be a positive integer/);
    }
  });
});
