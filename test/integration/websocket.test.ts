import { CloseCodes } from '@herald/protocol';
import { MemoryBroker } from '@herald/gateway';
import { TestClient, UpgradeRefused } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { postPublish } from '../support/publish.js';
import { signTestToken } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';

describe('websocket sessions', () => {
  let node: TestGateway;
  const clients: TestClient[] = [];

  async function connect(sub: string, via: 'header' | 'protocol' | 'query' = 'header'): Promise<TestClient> {
    const client = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub }), via });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    node = await startTestGateway({ MAX_INBOUND_FRAME_BYTES: '256' });
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.terminate();
  });
  afterAll(async () => {
    await node.stop();
  });

  it('welcomes an authenticated socket with its node, user and connection id', async () => {
    const client = await connect('alice');
    expect(client.welcome).toEqual({
      type: 'herald.welcome',
      protocol: 1,
      node: 'test-node',
      user_id: 'alice',
      connection_id: expect.stringMatching(/^[A-Za-z0-9_-]{12}$/),
      since: expect.stringMatching(/^\d+-0$/),
    });
    expect(client.frames).toHaveLength(1);
  });

  it('gives every connection its own id', async () => {
    const [a, b] = [await connect('alice'), await connect('alice')];
    expect(a.welcome.connection_id).not.toBe(b.welcome.connection_id);
  });

  it('takes the token from a bearer.<jwt> subprotocol and echoes that subprotocol', async () => {
    const client = await connect('bob', 'protocol');
    expect(client.socket.protocol).toMatch(/^bearer\./);
    expect(client.welcome.user_id).toBe('bob');
  });

  it('takes the token from the token query parameter', async () => {
    expect((await connect('carol', 'query')).welcome.user_id).toBe('carol');
  });

  it('answers herald.ping with herald.pong', async () => {
    const client = await connect('dave');
    client.send({ type: 'herald.ping' });
    await client.waitFor('pong', (frames) => frames.some((frame) => frame.type === 'herald.pong'));
  });

  it('answers any other client frame with herald.error and keeps the socket open', async () => {
    const client = await connect('erin');
    client.send('not json');
    client.send({ type: 'herald.subscribe', channel: 'someone-else' });
    await client.waitFor('two errors', (frames) => frames.filter((frame) => frame.type === 'herald.error').length === 2);
    const errors = client.frames.filter((frame) => frame.type === 'herald.error');
    expect(errors.map((frame) => (frame as { code: string }).code)).toEqual(['invalid_frame', 'unknown_type']);
    client.send({ type: 'herald.ping' });
    await client.waitFor('pong after errors', (frames) => frames.some((frame) => frame.type === 'herald.pong'));
    expect(client.closed).toBeUndefined();
  });

  it('closes the socket with 1003 on a binary frame', async () => {
    const client = await connect('frank');
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await client.waitForClose()).toEqual({ code: CloseCodes.UNSUPPORTED_DATA.code, reason: 'binary frames are not supported' });
  });

  it('closes the socket with 1009 on a frame over MAX_INBOUND_FRAME_BYTES', async () => {
    const client = await connect('gina');
    client.send({ type: 'herald.ping', padding: 'x'.repeat(300) });
    expect(await client.waitForClose()).toEqual({ code: CloseCodes.MESSAGE_TOO_BIG.code, reason: 'frames are limited to 256 bytes' });
  });

  it('cuts a socket that sends a frame far beyond the limit', async () => {
    const client = await connect('hank');
    client.send('x'.repeat(256 * 4 + 1));
    expect((await client.waitForClose()).code).not.toBe(1000);
  });

  it("delivers a user's events to all of that user's sockets and to no one else's", async () => {
    const [a1, a2, b] = [await connect('ivy'), await connect('ivy'), await connect('jack')];
    const answer = await postPublish(node.httpUrl, { user_id: 'ivy', type: 'agent_started', run_id: 'r', data: { n: 1 } });
    expect(answer.status).toBe(200);
    for (const client of [a1, a2]) {
      const [event] = await client.waitForEvents(1);
      expect(event).toMatchObject({ id: answer.body.event_id, type: 'agent_started', user_id: 'ivy', data: { n: 1 } });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(b.events()).toEqual([]);
  });

  it('unsubscribes a user when their last socket closes', async () => {
    await waitUntil('earlier tests\' sockets to be gone', () => node.gateway.connections === 0);
    await waitUntil('earlier users to be unsubscribed', () => node.gateway.subscribedUsers === 0);
    const [a, b] = [await connect('kate'), await connect('kate')];
    expect(node.gateway.subscribedUsers).toBe(1);
    await a.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(node.gateway.subscribedUsers).toBe(1);
    await b.close();
    await waitUntil('the user to be unsubscribed', () => node.gateway.subscribedUsers === 0);
  });
});

describe('gateway HTTP endpoints', () => {
  let node: TestGateway;

  beforeAll(async () => {
    node = await startTestGateway();
  });
  afterAll(async () => {
    await node.stop();
  });

  it('reports liveness and readiness on the admin port', async () => {
    const health = await fetch(`${node.adminUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', node: 'test-node' });
    const ready = await fetch(`${node.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', accepting: true, recovering: false, broker: { connected: true } });
  });

  it('keeps probes and metrics off the public port unless PUBLIC_PROBES is set', async () => {
    expect((await fetch(`${node.httpUrl}/healthz`)).status).toBe(404);
    expect((await fetch(`${node.httpUrl}/metrics`)).status).toBe(404);
    const withProbes = await startTestGateway({ PUBLIC_PROBES: 'true' });
    try {
      expect((await fetch(`${withProbes.httpUrl}/readyz`)).status).toBe(200);
      expect((await fetch(`${withProbes.httpUrl}/metrics`)).status).toBe(404);
    } finally {
      await withProbes.stop();
    }
  });

  it('answers a plain GET /ws with 426 and unknown paths with 404, as JSON', async () => {
    const ws = await fetch(`${node.httpUrl}/ws`);
    expect(ws.status).toBe(426);
    const missing = await fetch(`${node.httpUrl}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'not_found', message: 'no route for GET /nope' } });
  });
});

describe('gateway without a broker connection', () => {
  it('is not ready and refuses sockets with 503 and a retry hint, before checking the token', async () => {
    const broker = new MemoryBroker();
    const node = await startTestGateway({}, { broker });
    try {
      await broker.close();
      expect((await fetch(`${node.adminUrl}/readyz`)).status).toBe(503);
      const refused = await TestClient.open(node.wsUrl, { token: 'irrelevant' }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect((refused as UpgradeRefused).status).toBe(503);
      expect((refused as UpgradeRefused).headers['retry-after']).toBe('1');
    } finally {
      await node.stop();
    }
  });
});

describe('slow consumers', () => {
  it('closes a socket that stops reading with 4002 once its buffer passes MAX_BUFFERED_BYTES; resuming loses nothing', async () => {
    const node = await startTestGateway({ MAX_BUFFERED_BYTES: '131072' });
    try {
      const token = await signTestToken({ sub: 'slow' });
      const client = await TestClient.connect(node.wsUrl, { token });
      const tcp = (client.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      tcp.pause();
      const chunk = 'x'.repeat(60_000);
      const published: string[] = [];
      // Enough to fill the kernel's socket buffers and then the gateway's.
      while (published.length < 400 && node.gateway.connections > 0) {
        const answer = await postPublish(node.httpUrl, { user_id: 'slow', type: 'agent_thinking', data: { chunk } });
        expect(answer.status).toBe(200);
        published.push(answer.body.event_id);
      }
      tcp.resume();
      const closed = await client.waitForClose();
      expect(closed).toEqual({ code: CloseCodes.SLOW_CONSUMER.code, reason: 'slow consumer' });
      // What it got before the close is a prefix of what was published, in order.
      const before = client.events().map((event) => event.id);
      expect(before).toEqual(published.slice(0, before.length));

      published.push(...(await Promise.all([1, 2].map(async () => (await postPublish(node.httpUrl, { user_id: 'slow', type: 'agent_thinking', data: null })).body.event_id))));
      const resumed = await TestClient.connect(`${node.wsUrl}?since=${before.at(-1)}`, { token });
      await resumed.waitFor('resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
      await resumed.waitForEvents(published.length - before.length);
      expect([...before, ...resumed.events().map((event) => event.id)]).toEqual(published);
      resumed.terminate();
    } finally {
      await node.stop();
    }
  });
});

describe('gateway shutdown', () => {
  it('closes open sockets with 1001 and stops listening', async () => {
    const node = await startTestGateway();
    const client = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'leo' }) });
    await node.stop();
    expect((await client.waitForClose()).code).toBe(CloseCodes.GOING_AWAY.code);
    await expect(fetch(`${node.httpUrl}/ws`)).rejects.toThrow();
    await expect(fetch(`${node.adminUrl}/healthz`)).rejects.toThrow();
  });
});
